"""The embedded lab of one pytest run: its folder, prepared at collection, started before the
first probe, stopped when the run ends.

The folder holds the lab's private keys (pki/), so a temporary one never outlives the run. A
run that fails copies what explains the failure, the processes' logs and the rendered nginx and
Envoy configurations, never the keys, beside its report, and says where; `--lab-state DIR`
keeps the whole folder in DIR whatever the outcome.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from cutover.lab.lab import Lab, LabOptions
from cutover.targets import Targets, parse_targets

__all__ = ["KEPT_ON_FAILURE", "LabSession", "judge_worker_logs"]

# What a failed run keeps of a temporary lab folder: logs and configurations, never pki/ (the
# lab's private keys) or nginx's scratch space.
KEPT_ON_FAILURE = ("logs", "nginx/nginx.conf", "nginx/error.log", "nginx/access.log", "envoy", "backends/services.json")


class LabSession:
    def __init__(self, options: LabOptions, temporary: bool, progress: Callable[[str], None]) -> None:
        self.lab = Lab(options)
        self.temporary = temporary
        self.started = False
        # Whether start() ran at all: a lab only rendered (an xdist controller's) has no logs.
        self.attempted = False
        # A failed run had no report folder to keep its logs in (say so: --lab-state keeps them).
        self.logs_dropped = False
        self._progress = progress

    @classmethod
    def create(
        cls,
        manifests: Path,
        state: Path | None,
        progress: Callable[[str], None],
        *,
        profile: str | None = None,
        faults: list[str] | None = None,
        nginx_config: Path | None = None,
        worker: str | None = None,
    ) -> LabSession:
        """A session in `state` (under it, one folder per xdist worker), or in a new temporary folder."""
        if state is not None:
            state_dir = state / worker if worker else state
            temporary = False
        else:
            state_dir = Path(tempfile.mkdtemp(prefix="cutover-lab-"))
            temporary = True
        options = LabOptions(
            manifests=manifests,
            state_dir=state_dir,
            profile=profile,
            faults=list(faults or []),
            detach=False,
            nginx_config=nginx_config,
        )
        return cls(options, temporary, progress)

    @property
    def state_dir(self) -> Path:
        return self.lab.state_dir

    def prepare(self) -> Targets:
        """Render the configurations and read the targets they give."""
        data = self.lab.prepare()
        # What the user wrote is the overlay beside the manifests: name it in errors.
        overlay = (data.get("source") or {}).get("overlay")
        return parse_targets(data, str(overlay or self.state_dir / "targets.yaml"))

    def start(self, profile: str) -> Targets | None:
        """Start the processes; the targets again if a port clash made the lab prepare itself anew."""
        if self.started:
            return None
        self.attempted = True
        self._progress(
            f"starting the embedded lab: nginx, Envoy and the probe backends for {self.lab.options.manifests}"
            f" (profile {profile})"
        )
        began = time.monotonic()
        layout = self.lab.layout
        self.lab.start()
        self.started = True
        self._progress(f"lab ready in {time.monotonic() - began:.1f} s")
        if self.lab.layout is not layout:
            # Only then: at 500 services reading the targets costs seconds before any probe starts.
            return parse_targets(self.lab.targets(), str(self.state_dir / "targets.yaml"))
        return None

    def stop(self, failed: bool = False, keep_in: Path | None = None) -> Path | None:
        """Stop the processes and remove a temporary folder. A failed run first copies its logs
        and configurations to `keep_in`. Returns where the lab's logs can be read after the run,
        or None."""
        self.lab.stop_started()
        self.started = False
        failed = failed and self.attempted
        if not self.temporary:
            return self.state_dir if failed else None
        if not self.state_dir.exists():
            return None
        if not failed:
            shutil.rmtree(self.state_dir, ignore_errors=True)
            return None
        if keep_in is None:
            # Nowhere to keep them (no report folder): the temporary folder never stays behind.
            shutil.rmtree(self.state_dir, ignore_errors=True)
            self.logs_dropped = True
            return None
        for name in KEPT_ON_FAILURE:
            source = self.state_dir / name
            target = keep_in / name
            if source.is_dir():
                shutil.copytree(source, target, dirs_exist_ok=True)
            elif source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return keep_in


def judge_worker_logs(report_directory: Path, keep: bool) -> list[Path]:
    """xdist: the folders the workers handed their logs to (`lab-gw0`, ...), kept when the run
    failed, otherwise removed (and the report folder with them, if they were all it held)."""
    folders = sorted(report_directory.glob("lab-gw*"))
    if keep:
        return folders
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        report_directory.rmdir()  # only if empty: a report written there stays
    return []
