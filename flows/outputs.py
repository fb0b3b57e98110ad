"""Output directories: a command writes only where it may, and never half a result.

Every directory a command of this toolkit writes (a build, a comparison, a sweep's
results, a simulator's scratch kept on request) holds the marker file `MARKER`, written
first. A command replaces a directory only if it carries that marker or is empty, and
refuses, before any work, the paths whose replacement could touch what the toolkit did
not write: `.`, `..`, the current directory and its parents, the home directory, the
repository, the Python environment, symbolic links, and folders of the user's.

A build goes into `<out>.incomplete/` and is swapped in whole (`staged_directory`): the
earlier `<out>` is moved aside to `<out>.replaced/`, the new one renamed to `<out>`, the
old one removed. A failure or an interrupt leaves `<out>` as it was and the staging
directory with FAILED.txt saying what was running.
"""
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path

from hdl.export import REPOSITORY

from .common import FlowError

MARKER = ".snn-hw-output"
MARKER_TEXT = ("Written by snn-hw. The toolkit replaces this directory when asked to write "
               "here again; remove this file to keep the directory from being replaced.\n")
STAGING_SUFFIX, REPLACED_SUFFIX = ".incomplete", ".replaced"


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during a command, with the one line that says what was kept."""


def is_toolkit_directory(path: Path) -> bool:
    """A directory this toolkit wrote (it holds the marker), or an empty one."""
    path = Path(path)
    return path.is_dir() and not path.is_symlink() and (
        (path / MARKER).is_file() or not any(path.iterdir()))


def protected_paths() -> dict[Path, str]:
    """Directories no command replaces, nor any parent of theirs: path → what it is."""
    return {Path.cwd().resolve(): "the current directory",
            Path.home().resolve(): "the home directory",
            REPOSITORY: "the snn-hw repository",
            Path(sys.prefix).resolve(): "the Python environment"}


def refusal(path: Path) -> str | None:
    """Why `path` (already resolved) may not be replaced, or None."""
    if path == Path(path.anchor):
        return "it is the file system's root"
    protected_places = protected_paths()
    for protected, what in protected_places.items():
        if path == protected:
            return f"it is {what}"
    for protected, what in protected_places.items():
        if protected.is_relative_to(path):
            return f"it holds {what} ({protected})"
        if what == "the Python environment" and path.is_relative_to(protected):
            return f"it is inside {what} ({protected})"
    if path.is_symlink():
        return "it is a symbolic link (name the directory itself)"
    if path.exists() and not path.is_dir():
        return "it is an existing file, not a directory"
    if path.exists() and not is_toolkit_directory(path):
        return (f"it is a folder this toolkit did not write (it holds files and no {MARKER} "
                "marker): choose another folder, or empty it yourself")
    return None


def output_path(out, option: str = "--out") -> Path:
    """The absolute directory `out` names, checked before any work: it and its staging
    and replaced siblings must be absent, empty, or written by this toolkit. FlowError
    (naming `option` and the path as given) otherwise."""
    given = out
    try:
        path = Path(out).expanduser()
        # the last part stays as given (a link is refused, not followed); the rest resolves
        path = path.parent.resolve() / path.name if path.name not in ("", ".", "..") \
            else path.resolve()
    except (OSError, RuntimeError, ValueError) as error:
        raise FlowError(f"{option} {given}: not a usable path ({error})") from None
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise FlowError(f"{option} {given}: {ancestor} is a file, so no directory can be made "
                        "below it")
    why = refusal(path)
    if why is not None:
        raise FlowError(f"{option} {given}: not written, because {why}")
    for sibling in (path.with_name(path.name + STAGING_SUFFIX),
                    path.with_name(path.name + REPLACED_SUFFIX)):
        why = refusal(sibling)
        if why is not None:
            raise FlowError(f"{option} {given}: the build would go through {sibling}, which "
                            f"is not written, because {why}")
    return path


def check_output_path(out, option: str = "--out") -> None:
    """`output_path` for a command that checks first and writes later."""
    output_path(out, option)


def mark(directory: Path) -> None:
    """Make `directory` (absent or empty, or the toolkit's) and mark it as the toolkit's."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / MARKER).write_text(MARKER_TEXT)


def claim_directory(directory, option: str = "--out") -> Path:
    """A directory written in place (a simulator's kept files): checked as `output_path`,
    made and marked; its earlier contents stay for the writer to overwrite."""
    path = output_path(directory, option)
    try:
        mark(path)
    except OSError as error:
        raise FlowError(f"{option} {directory}: cannot be written ({error.strerror})") from None
    return path


def interrupted_message(out) -> str:
    return f"interrupted; {out} left as it was" if Path(out).exists() else \
        f"interrupted; nothing written to {out}"


@contextmanager
def interrupts_named(out):
    """Inside, Ctrl-C becomes `Interrupted` saying what became of `out`."""
    try:
        yield
    except Interrupted:
        raise
    except KeyboardInterrupt:
        raise Interrupted(interrupted_message(out)) from None


@contextmanager
def staged_directory(out, progress=None, option: str = "--out"):
    """Build into `<out>.incomplete`; swap it in as `<out>` only once complete.

    On failure or interrupt the staging directory stays for inspection, with FAILED.txt
    naming the error and the step `progress` (a `flows.common.Progress`) was at, and an
    earlier `<out>` is left untouched."""
    given, out = out, output_path(out, option)
    staging = out.with_name(out.name + STAGING_SUFFIX)
    replaced = out.with_name(out.name + REPLACED_SUFFIX)
    try:
        for leftover in (staging, replaced):
            if leftover.exists():
                shutil.rmtree(leftover)
        staging.mkdir(parents=True)
        mark(staging)
    except OSError as error:
        raise FlowError(f"{option} {given}: cannot write {staging} ({error.strerror})") from None
    try:
        yield staging
    except BaseException as error:
        interrupt = isinstance(error, KeyboardInterrupt)
        what = "interrupted (Ctrl-C)" if interrupt else f"{type(error).__name__}: {error}"
        at = "" if progress is None or not progress.current else \
            f" during step {progress.number}/{progress.total}: {progress.current}"
        (staging / "FAILED.txt").write_text(f"{what}{at}\n")
        if interrupt and not isinstance(error, Interrupted):
            raise Interrupted(f"{interrupted_message(given)} (the partial build: "
                              f"{staging}, FAILED.txt says where it stopped)") from None
        raise
    if out.exists():
        out.rename(replaced)
    staging.rename(out)
    if replaced.exists():
        shutil.rmtree(replaced)
