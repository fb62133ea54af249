"""The weights policy: safetensors first; a `.bin`-only model is read once, safely, and kept as safetensors.

A `pytorch_model.bin` is a pickle. It is only ever read through transformers' own `.bin` path, which calls
torch's weights-only unpickler (torch >= 2.6): tensors and plain containers load, any other object is refused.
Never a plain `torch.load`, never `trust_remote_code`. The model is then saved as safetensors in our cache
folder (`converted/`), so every later load is a memory-mapped safetensors file, which the int8 path relies on.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from pathlib import Path

from splade_demo.files import replace_folder
from splade_demo.integrity import disk_full, no_space_line, note, verify_folder, write_checksums
from splade_demo.models.hub_download import TOKENIZER_FILES, ModelUnavailable, folder_layout

CONVERTED_SUBDIR = "converted"
_CONVERSION_LOCK = threading.Lock()  # one conversion at a time in this process (each holds a whole model)


def converted_folder(source: Path, cache_dir: Path) -> Path:
    """Where the safetensors copy of a `.bin` model folder lives: keyed by the folder and its weight files."""
    digest = hashlib.sha256(str(source.resolve()).encode())
    for weights in sorted(source.glob("pytorch_model*.bin")):
        stat = weights.stat()
        digest.update(f"{weights.name}:{stat.st_size}".encode())
    return Path(cache_dir) / CONVERTED_SUBDIR / f"{source.name[:40]}-{digest.hexdigest()[:16]}"


def safetensors_folder(source: Path, name: str, cache_dir: Path) -> tuple[Path, str]:
    """A folder to load `name` from with safetensors, and how its weights got there.

    Returns (source, "safetensors") when the folder has them; otherwise the converted copy of its `.bin`
    weights (made now if missing) and "converted from .bin".
    """
    layout = folder_layout(source)
    if layout == "safetensors":
        return source, "safetensors"
    if layout is None:
        raise ModelUnavailable(f"The model `{name}` has no weights in {source.name} "
                               "(neither model.safetensors nor pytorch_model.bin).")
    target = converted_folder(source, cache_dir)
    with _CONVERSION_LOCK:
        if not _is_intact(target):
            _convert_with_space_check(source, target, name)
    return target, "converted from .bin"


def convert_bin_to_safetensors(source: Path, target: Path, name: str) -> None:
    """Load `source`'s `.bin` weights through transformers (weights-only unpickler) and save them as safetensors.

    Written to a staging folder and renamed into place, so a crash never leaves a half copy that looks complete.
    """
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    try:
        model = AutoModelForMaskedLM.from_pretrained(source, use_safetensors=False, trust_remote_code=False)
    except Exception as exc:  # noqa: BLE001 - UnpicklingError and friends: one line naming the model
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise ModelUnavailable(
            f"The weights of `{name}` (pytorch_model.bin) were refused by torch's weights-only loader or could "
            f"not be read: {first_line}"
        ) from exc
    staging = target.with_name(f".{target.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(staging)
    for file_name in TOKENIZER_FILES:
        if (source / file_name).is_file():
            shutil.copyfile(source / file_name, staging / file_name)
    write_checksums(staging)  # last: a copy without it is not complete
    del model
    try:
        replace_folder(staging, target)  # an earlier, incomplete copy goes aside (Windows: maybe still mapped)
    except PermissionError as exc:
        raise ModelUnavailable(f"The safetensors copy of `{name}` could not be put in place: {exc.strerror}") from exc


def _convert_with_space_check(source: Path, target: Path, name: str) -> None:
    """`convert_bin_to_safetensors`; out of space: one line naming the folder and about what it needs (the `.bin`
    size). The staging folder is never taken for a converted copy (no checksums.json, and it is not `target`)."""
    try:
        convert_bin_to_safetensors(source, target, name)
    except Exception as exc:  # noqa: BLE001 - safetensors' writer raises its own error type for a full disk
        if disk_full(exc) is None:
            raise
        needed = sum(p.stat().st_size for p in source.glob("pytorch_model*.bin"))
        raise ModelUnavailable(no_space_line(target.parent, needed, f"the safetensors copy of `{name}`")) from None


def _is_intact(folder: Path) -> bool:
    """A complete converted copy whose files match their checksums (safetensors has none of its own); a bad copy
    gets one `note:` line and is converted again."""
    if not folder.exists():
        return False
    problem = "is incomplete" if not _is_complete(folder) else verify_folder(folder)
    if problem:
        note(f"the converted weights at {folder}: {problem}; converting them again")
        return False
    return True


def _is_complete(folder: Path) -> bool:
    return (folder / "config.json").is_file() and folder_layout(folder) == "safetensors"
