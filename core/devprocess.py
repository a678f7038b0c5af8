"""`python -m core.devprocess <command...>`: run a command so that stopping it is clean under honcho.

honcho (`make run`) stops a process by sending SIGTERM to its whole process group, and SIGKILL
to the group five seconds later. For a Celery worker that group holds its pool processes too:
they died under the worker's feet ("Process 'ForkPoolWorker-1' exited with 'signal 15
(SIGTERM)'" at ERROR), the warm shutdown could not finish and the worker was SIGKILLed. This
wrapper starts the command in a session of its own and passes SIGTERM and SIGINT to its main
process only, which for Celery is a warm shutdown: running tasks finish and the worker closes its
own pool. A worker started this way also leaves as soon as that shutdown is complete (see
`exit_when_stopped`), usually within honcho's five seconds; if a long task keeps it longer, the
wrapper says so and returns after GRACE_SECONDS, and the worker finishes that task on its own
and exits (nothing is killed, so honcho never needs its SIGKILL).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

ENV_FLAG = "BULLETIN_DEVPROCESS"
GRACE_SECONDS = 3.0  # honcho sends SIGKILL 5 s after SIGTERM: two seconds of headroom on a busy machine


def exit_when_stopped() -> None:
    """In a worker under this wrapper: exit right after the worker's shutdown, skipping the
    interpreter's teardown (seconds of garbage collection on a busy laptop, with nothing left to
    do: tasks are finished and acknowledged, the pool closed, logs flushed here)."""
    from celery.signals import worker_shutdown

    def _exit(sender=None, **kwargs) -> None:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(sender, "exitcode", 0) or 0)

    worker_shutdown.connect(_exit, weak=False, dispatch_uid="bulletin-devprocess-exit")


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m core.devprocess <command> [args...]", file=sys.stderr)
        return 2
    env = {**os.environ, ENV_FLAG: "1"}
    child = subprocess.Popen(argv, start_new_session=True, env=env)  # noqa: S603 (the Procfile's own command)

    stopping_since: list[float] = []

    def relay(signum, frame) -> None:
        if child.poll() is None and not stopping_since:
            child.send_signal(signal.SIGTERM)
            stopping_since.append(time.monotonic())

    signal.signal(signal.SIGTERM, relay)
    signal.signal(signal.SIGINT, relay)
    while True:
        try:
            code = child.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if stopping_since and time.monotonic() - stopping_since[0] > GRACE_SECONDS:
                print(f"{argv[0]} (pid {child.pid}) is finishing its work and exits on its own.", flush=True)
                os._exit(0)  # now: the interpreter's teardown could outlast honcho's patience
            continue
        return 0 if code == -signal.SIGTERM else code  # stopped as asked


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
