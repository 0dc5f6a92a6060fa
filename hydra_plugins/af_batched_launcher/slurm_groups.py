"""hydra/launcher=batched_slurm, the launching side: skip what is done, submit one SLURM array task per group
(``alternating_freeze.batched.cluster``), and wait for them, watching the queue.

submitit learns that a job ended from its result file, or from ``sacct``; a cluster without accounting, a
cancelled array or a job killed before it could write its result leaves the stock launcher waiting forever. Here
the wait also asks ``squeue``: a job that has left the queue without a result (twice in a row, so that a result
written as the job ends is not missed) is *lost*, and once every other job has ended the launch stops with one
line that names the lost jobs and what to do.
(No ``from __future__ import annotations``: Hydra scans plugin modules without registering them.)
"""

import logging
import subprocess
import time
from pathlib import Path
from typing import Dict, List, Optional, Set

from alternating_freeze import policy
from alternating_freeze.batched.cluster import GroupJob, groups_of

log = logging.getLogger(__name__)
RESULT_POLL_S = 1.0  # how often the result files are looked for
QUEUE_POLL_S = 10.0  # how often squeue is asked
QUEUE_SILENT_S = 300.0  # squeue failing this long ends the wait


def submit(prepared: list, max_members: int, options: dict, sweep_dir: Path, verbose=False) -> Optional[str]:
    """Train the prepared (config, task) pairs as SLURM array tasks, one per group; set each task's outcome.
    A one-line message when some jobs were lost, else None."""
    import submitit

    config = {id(task): cfg for cfg, task in prepared}
    pending = []
    for _, task in prepared:  # done, running elsewhere or another config's: never submitted
        with task.act(), policy.claim(task.out, task.cfg, None) as job:
            task.outcome = job.status
        if task.outcome is None:
            pending.append(task)
    if not pending:
        log.info("every job is done or running elsewhere: nothing submitted")
        return None
    groups = groups_of(pending, max_members)
    executor = submitit.AutoExecutor(
        folder=options["submitit_folder"], cluster="slurm", slurm_max_num_timeout=options["max_num_timeout"]
    )
    executor.update_parameters(**_parameters(options))
    log.info(
        "submitting %d groups (%s runs) for %d of %d jobs",
        len(groups),
        ", ".join(str(len(g)) for g in groups),
        len(pending),
        len(prepared),
    )
    jobs = executor.map_array(GroupJob(max_members, verbose), [[config[id(t)] for t in g] for g in groups])
    lost = []
    for job, group, outcome in zip(jobs, groups, wait(jobs)):
        if outcome == "lost":
            lost.append(job.job_id)
            continue
        if isinstance(outcome, Exception):
            log.error("error: SLURM job %s failed: %s (log: %s)", job.job_id, _last(outcome), job.paths.stderr)
            outcome = [policy.FAILED] * len(group)
        for t, status in zip(group, outcome):
            t.outcome = status
    if not lost:
        return None
    return (
        f"error: SLURM job{'s' if len(lost) > 1 else ''} {', '.join(lost)} left the queue without a result (cancelled, or killed before "
        f"they could write one; their logs: {sweep_dir / '.submitit'}): rerun the same command into "
        f"{sweep_dir} to resume their runs"
    )


def _parameters(options: dict) -> dict:
    """The slurm node's options as submitit's AutoExecutor takes them (as the stock submitit launcher does)."""
    from omegaconf import OmegaConf

    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    base = set(OmegaConf.structured(BaseQueueConf).keys())
    skip = {"submitit_folder", "max_num_timeout", "_target_"}
    return {k if k in base else f"slurm_{k}": v for k, v in options.items() if k not in skip}


def _last(e: Exception) -> str:
    """The exception the job raised (the last line of submitit's trace)."""
    lines = [line for line in str(e).strip().splitlines() if line.strip() and not line.startswith("srun:")]
    return lines[-1].strip() if lines else type(e).__name__


def wait(jobs: list) -> list:
    """Each job's result (its members' statuses), its exception, or "lost", in order."""
    outcomes: List[object] = [None] * len(jobs)
    waiting: Dict[int, object] = dict(enumerate(jobs))
    missing: Dict[int, int] = {}
    asked, silent_since = 0.0, None
    while waiting:
        for i, job in list(waiting.items()):
            if job.paths.result_pickle.exists():
                outcomes[i] = _outcome(job)
                del waiting[i]
        if not waiting:
            break
        if time.monotonic() - asked >= QUEUE_POLL_S:
            asked = time.monotonic()
            queued = queue([j.job_id for j in waiting.values()])
            if queued is None:
                silent_since = silent_since or asked
                if asked - silent_since > QUEUE_SILENT_S:
                    raise RuntimeError(
                        f"squeue has not answered for {QUEUE_SILENT_S:.0f} s; the jobs may still run: rerun the "
                        "same command into the same folder once the cluster answers"
                    )
            else:
                silent_since = None
                for i, job in list(waiting.items()):
                    missing[i] = 0 if job.job_id in queued else missing.get(i, 0) + 1
                    if missing[i] >= 2 and not job.paths.result_pickle.exists():
                        log.error("error: SLURM job %s left the queue without a result", job.job_id)
                        outcomes[i] = "lost"
                        del waiting[i]
        time.sleep(RESULT_POLL_S)
    return outcomes


def _outcome(job):
    try:
        return job.result()
    except Exception as e:  # noqa: BLE001 - the job's own failure, said by the caller
        return e


def queue(job_ids: List[str]) -> Optional[Set[str]]:
    """The ids among ``job_ids`` (``123`` or ``123_4``) that SLURM still holds (pending, running, requeued,
    completing); None when squeue does not answer."""
    arrays = sorted({j.split("_")[0] for j in job_ids})
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-j", ",".join(arrays)], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        # squeue refuses ids it no longer knows ("Invalid job id specified"): none of them is queued
        return set() if "Invalid job id" in proc.stderr else None
    return {line.strip() for line in proc.stdout.splitlines() if line.strip()}
