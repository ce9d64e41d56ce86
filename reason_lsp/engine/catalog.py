"""Which model a ``model`` setting names, found without importing torch.

* ``"embedded"`` (the default, also ``""``): the pretrained model that ``reason-lsp
  fetch-model`` put in the cache, else the tiny shipped one (:func:`fallback_note`
  says so, once per server);
* ``"tiny"``: the small model trained here, shipped in ``models/reason-code-small``
  (the fallback, the test model);
* ``"pretrained"`` or the pretrained model's own name (``"smollm2-135m"``): the fetched
  model, an error with the command to run when it is not fetched;
* a local folder, or a Hugging Face hub id (resolved by transformers from its cache).

The server, ``check``, the CLIs and the benchmarks all resolve names here, so "the
default model" means one thing everywhere.
"""

from __future__ import annotations

from pathlib import Path

from reason_lsp.engine import pretrained

TINY_NAME = "reason-code-small"
EMBEDDED = ("", "embedded")
TINY = ("tiny", TINY_NAME)
PRETRAINED = ("pretrained", pretrained.SOURCE.name)


def tiny_dir() -> Path:
    """The shipped tiny model: inside the installed package (wheel) or the repository."""
    folder = pretrained.shipped_dir(TINY_NAME)
    if folder is None or not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"the tiny model {TINY_NAME} is not installed; reinstall reason-lsp or set "
            "reasonLsp.model to a folder"
        )
    return folder


def is_embedded(spec: str) -> bool:
    return spec.strip().lower() in EMBEDDED


def fallback_note(spec: str) -> str | None:
    """One sentence when ``spec`` means the pretrained model but the tiny one will run."""
    if is_embedded(spec) and pretrained.installed_dir() is None:
        return (
            "the pretrained model is not fetched, so the tiny model runs (weaker "
            "completions); run `reason-lsp fetch-model` once to get it"
        )
    return None


def resolve(spec: str) -> str:
    """A loadable folder or hub id for ``spec``, or FileNotFoundError with what to do."""
    name = spec.strip()
    if name.lower() in EMBEDDED:
        fetched = pretrained.installed_dir()
        return str(fetched) if fetched is not None else str(tiny_dir())
    if name.lower() in TINY:
        return str(tiny_dir())
    if name.lower() in PRETRAINED:
        fetched = pretrained.installed_dir()
        if fetched is None:
            raise FileNotFoundError(
                f"the pretrained model {pretrained.SOURCE.name} is not fetched; "
                "run `reason-lsp fetch-model` once"
            )
        return str(fetched)
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path} is not a Hugging Face model folder (no config.json)")
        return str(path)
    if name.startswith((".", "/", "~")):
        raise FileNotFoundError(f"model folder {name} does not exist")
    return name  # a hub id: transformers resolves it from the cache or the network


def local_folder(spec: str) -> Path | None:
    """The local folder ``spec`` means, or None (a hub id, or nothing installed)."""
    try:
        path = Path(resolve(spec))
    except FileNotFoundError:
        return None
    return path if path.is_dir() else None
