"""Job states from SLURM read the same whichever command the executor plugin asks.

snakemake-executor-plugin-slurm (2.8.0) asks ``sacct`` or ``squeue`` for its jobs' states, and takes a job as
failed only for a state it lists (``CANCELLED``, ``FAILED``, ...). ``sacct`` reports a job cancelled with
``scancel`` as ``CANCELLED by <uid>``, which is in no list: the plugin waits for it forever. ``squeue`` says
``CANCELLED``, but only for MinJobAge seconds after the job ended, and the plugin goes back to ``sacct`` where
MinJobAge is below three times its first status interval. So the states are read through :func:`job_state`
whatever the command, at the start of every run on the ``slurm`` executor (the workflow's ``onstart``), and one
line says how states are read on this cluster.
"""

from __future__ import annotations

import functools

PATCHED = "_a3t_job_state"  # marks the plugin's status query once wrapped


def job_state(state: str) -> str:
    """A job's state as the plugin's lists name it: ``CANCELLED by 0`` -> ``CANCELLED`` (sacct adds who)."""
    return state.split(" ", 1)[0]


def read_states_whole(plugin) -> bool:
    """Wrap ``plugin.query_job_status`` (the plugin module's status query) so that every state it returns is
    :func:`job_state`'s; False where this plugin has no such function (its structure changed)."""
    query = getattr(plugin, "query_job_status", None)
    if query is None:
        return False
    if getattr(query, PATCHED, False):
        return True

    @functools.wraps(query)
    async def query_job_status(command, logger):
        states, seconds = await query(command, logger)
        return (None if states is None else {job: job_state(s) for job, s in states.items()}), seconds

    setattr(query_job_status, PATCHED, True)
    plugin.query_job_status = query_job_status
    return True


def status_line(settings) -> str:
    """One line on how job states are read on this cluster, from the plugin's settings (``settings``: the
    executor settings) and its MinJobAge; wraps the plugin's status query first."""
    import snakemake_executor_plugin_slurm as plugin
    from snakemake_executor_plugin_slurm.job_status_query import get_min_job_age

    command = getattr(settings, "status_command", None) or "sacct"
    first = getattr(settings, "init_seconds_before_status_checks", None) or 40
    age = get_min_job_age()
    if command == "squeue" and (age is None or age < 3 * first):
        command = f"sacct (the plugin's fallback from squeue: MinJobAge {age} s < 3 x {first} s)"
    elif command == "squeue":
        command = f"squeue (MinJobAge {age} s: a job that ended longer ago than that is no longer listed)"
    if not read_states_whole(plugin):
        return (
            f"a3t: SLURM job states from {command}; warning: this snakemake-executor-plugin-slurm has no "
            "query_job_status to wrap, so a job cancelled with scancel ('CANCELLED by <uid>' in sacct) may hang the run"
        )
    return f"a3t: SLURM job states from {command}, 'CANCELLED by <uid>' read as CANCELLED (MinJobAge {age} s)"
