"""The results on disk, defined once: file names, columns, statuses, a configuration's identity and the atomic
writes.

Training writes these files and the analysis reads them, so both import this package; it uses the standard
library only (importing it pulls in neither torch nor pandas). Names and columns are stable: a column is only ever
added, and readers treat the ones added since the first version as optional, so that old run folders stay
readable. See README, "Results on disk". Every name is importable from here (``contract.config_hash``); each lives
in one module:

- ``files``: the run folder's file names, metrics.csv's columns, run statuses, the ``trained`` column, reading
  a summary and writing metrics.csv;
- ``identity``: which keys change results, ``config_hash``, ``configuration_id``, ``strategy_label``,
  ``configuration_label`` (the strategy and its schedule), value kinds;
- ``objective``: what a run is judged by (the validation column its task declares, which way is better, its keys);
- ``rates``: the learning rate at a step from a run's recorded schedule (and FreezeOut's per-block cosines);
- ``tuning``: which trial scores count and when a choice is at the edge of its range;
- ``writes``: atomic writes, never through a symbolic link.
"""

# ruff: noqa: F401  (every name below is imported to be re-exported)
from .files import (
    ALL_BLOCKS,
    CHECKPOINT_FILE,
    COMPLETED,
    CONFIG_FILE,
    DIVERGED,
    ERROR_FILE,
    FAILED,
    LEGACY_TRAINED,
    LOCK_FILE,
    LOG_FILE,
    METRICS_COLUMNS,
    METRICS_FILE,
    MULTIRUN_FILE,
    OVERRIDES_FILE,
    REQUIRED_COLUMNS,
    RUN_STATUSES,
    STARVED_SHARE,
    SUMMARY_FILE,
    TERMINAL,
    TEXT_COLUMNS,
    TIMING_COLUMNS,
    TUNING_FILE,
    WEIGHTS_FILE,
    agrees,
    metrics_csv,
    metrics_rows,
    parse_trained,
    read_summary,
    trained_label,
)
from .identity import (
    ADDED_AT,
    EXECUTION_GROUPS,
    EXECUTION_KEYS,
    KIND,
    KINDS,
    SCHEDULE_OPTIONS,
    UNLABELLED,
    affects_results,
    config_hash,
    config_problems,
    configuration_id,
    configuration_label,
    flatten,
    result_tree,
    schedule_label,
    strategy_label,
    text,
    without_added_defaults,
)
from .objective import (
    ACCURACY,
    LEGACY_OBJECTIVE,
    LOSS,
    OBJECTIVES,
    Objective,
    bits,
    objective_of,
    objective_of_key,
)
from .rates import (
    CONSTANT,
    block_cosines,
    scheduled,
    warmup_steps,
)
from .tuning import (
    BOUNDARY,
    RANGED,
    boundary_side,
    metric_objective,
    valid_score,
)
from .writes import (
    TEMPORARY,
    LinkRefused,
    finite,
    open_nofollow,
    refuse_link,
    remove_temporaries,
    write_atomic,
    write_json,
)
