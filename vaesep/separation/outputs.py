"""The output files of ``separate``: names from a template, the file format and the sample type.

The default keeps each input's format and sample type where the output can have them (WAV,
its WAVE_FORMAT_EXTENSIBLE and RF64 variants, or FLAC; 16-bit, 24-bit or float samples) and
writes float WAV otherwise (MP3, OGG, SPHERE, 8-bit or μ-law inputs). Integer sample types clip
at full scale (with a note when they did).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path, PurePath

from vaesep.errors import VaesepError
from vaesep.io.atomic import check_name
from vaesep.io.audio import audio_info, is_pipe
from vaesep.separation.inputs import Input

FORMATS = {"wav": "WAV", "flac": "FLAC"}  # what --format chooses
# The formats an output can have, by libsndfile's name: WAV, WAV as sox, ffmpeg and DAWs write
# 24-bit or multichannel audio (WAVE_FORMAT_EXTENSIBLE: WAVEX), WAV beyond 4 GiB (RF64), FLAC;
# without --format an input's is kept.
_WAV = ("PCM_16", "PCM_24", "FLOAT")
SUBTYPES = {"WAV": _WAV, "WAVEX": _WAV, "RF64": _WAV, "FLAC": ("PCM_16", "PCM_24")}
DEFAULT_SUBTYPE = {"WAV": "FLOAT", "WAVEX": "FLOAT", "RF64": "FLOAT", "FLAC": "PCM_24"}
EXTENSIONS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac"}
FIELDS = ("stem", "relpath", "source", "ext", "model")
DEFAULT_TEMPLATE = "{stem}_{source}.{ext}"
TREE_TEMPLATE = "{relpath}_{source}.{ext}"  # outputs in the input folders' tree
_FIX = "shorten it with --name (e.g. --name 'sep{source}.{ext}') or rename the input"


@dataclass(frozen=True)
class OutputFormat:
    """A file format (``WAV``, ``WAVEX``, ``RF64``, ``FLAC``) and sample type (``PCM_16``,
    ``PCM_24``, ``FLOAT``)."""

    format: str
    subtype: str

    @property
    def ext(self) -> str:
        return EXTENSIONS[self.format]


def check_choices(fmt: str | None, subtype: str | None) -> None:
    """Refuse an unknown ``--format``/``--subtype`` or a pair the format cannot hold."""
    if fmt is not None and fmt.lower() not in FORMATS:
        raise VaesepError(f"--format {fmt!r}: use wav or flac")
    if subtype is None:
        return
    known = sorted({s for kinds in SUBTYPES.values() for s in kinds})
    if subtype.upper() not in known:
        raise VaesepError(f"--subtype {subtype!r}: use one of {', '.join(known)}")
    if fmt is not None and subtype.upper() not in SUBTYPES[FORMATS[fmt.lower()]]:
        raise VaesepError(
            f"--subtype {subtype}: {fmt} files cannot hold it; use one of "
            f"{', '.join(SUBTYPES[FORMATS[fmt.lower()]])}"
        )


def output_format(path: Path | str, fmt: str | None, subtype: str | None) -> OutputFormat:
    """The format of ``path``'s outputs: the asked one, else the input's where possible (an
    input that cannot be read, or a ``cmd |`` pipe, gets the defaults)."""
    info = None
    if (fmt is None or subtype is None) and not is_pipe(path):
        try:
            info = audio_info(path)
        except VaesepError:  # reported when it is separated
            pass
    given = info.format if info is not None and info.format in SUBTYPES else "WAV"
    chosen = FORMATS[fmt.lower()] if fmt else given
    if subtype is not None:
        kind = subtype.upper()
        if kind not in SUBTYPES[chosen]:  # only when the format is the input's (checked before)
            raise VaesepError(
                f"{path}: --subtype {subtype} does not fit its format {chosen}; add --format wav"
            )
    else:
        kept = info is not None and info.format in SUBTYPES  # a WAV (of any kind) or FLAC input
        given = info.subtype if kept else None
        kind = given if given in SUBTYPES[chosen] else DEFAULT_SUBTYPE[chosen]
    return OutputFormat(chosen, kind)


def check_template(template: str) -> None:
    """A name template uses only {stem}, {relpath}, {source}, {ext}, {model}; {source} is
    required."""
    try:
        parsed = [p for p in string.Formatter().parse(template) if p[1] is not None]
    except ValueError as exc:
        raise VaesepError(f"--name {template!r}: {exc}; e.g. --name '{DEFAULT_TEMPLATE}'") from None
    if any(spec or conversion for _, _, spec, conversion in parsed):
        raise VaesepError(f"--name {template!r}: plain fields only, e.g. '{DEFAULT_TEMPLATE}'")
    fields = {field for _, field, _, _ in parsed}
    unknown = sorted(f for f in fields if f not in FIELDS)
    if unknown:
        raise VaesepError(
            f"--name {template!r}: unknown field {{{unknown[0]}}}; use "
            f"{', '.join('{' + f + '}' for f in FIELDS)}"
        )
    if "source" not in fields:
        raise VaesepError(
            f"--name {template!r}: needs {{source}}, or the sources overwrite each other"
        )
    pure = PurePath(template)
    if pure.is_absolute() or ".." in pure.parts:
        raise VaesepError(
            f"--name {template!r}: must stay inside --out-dir (no '/' at the start, no '..')"
        )


def output_paths(
    item: Input,
    sources: tuple[str, ...],
    out_dir: Path,
    template: str,
    form: OutputFormat,
    model: str,
) -> dict[str, Path]:
    """Each source's output path of one input, inside ``out_dir``, every file name within the
    name limit."""
    paths = {}
    for source in sources:
        fields = {"stem": item.stem, "relpath": item.relpath, "model": model}
        name = Path(template.format(source=source, ext=form.ext, **fields))
        if name.is_absolute() or ".." in name.parts:
            raise VaesepError(
                f"{item.path}: its output name {name} would be written outside --out-dir; give "
                "the input a plain name (an scp's utterance id: no '/' at the start, no '..')"
            )
        for k in range(len(name.parts)):
            check_name(out_dir.joinpath(*name.parts[: k + 1]), _FIX)
        paths[source] = out_dir / name
    return paths


def plan_outputs(
    inputs: list[Input],
    sources: tuple[str, ...],
    out_dir: Path,
    template: str = DEFAULT_TEMPLATE,
    fmt: str | None = None,
    subtype: str | None = None,
    model: str = "model",
) -> dict[Input, tuple[dict[str, Path], OutputFormat]]:
    """Per input, its outputs and their format; two inputs never share an output (a one-line
    error names the two and the ``--name`` that keeps them apart)."""
    check_choices(fmt, subtype)
    check_template(template)
    plans: dict[Input, tuple[dict[str, Path], OutputFormat]] = {}
    owner: dict[Path, Input] = {}
    for item in inputs:
        form = output_format(item.path, fmt, subtype)
        paths = output_paths(item, sources, out_dir, template, form, model)
        for target in paths.values():
            if target in owner:
                raise _collision(template, owner[target], item, target)
            owner[target] = item
        plans[item] = (paths, form)
    return plans


def _collision(template: str, first: Input, second: Input, target: Path) -> VaesepError:
    """Two inputs would write ``target``: the error, with the template that keeps them apart
    (their folders' tree for files of one name in several folders, e.g. spk1/0001.wav and
    spk2/0001.wav)."""
    said = f"--name {template!r}: {first.path} and {second.path} would both write {target}"
    if first.stem != second.stem and "{stem}" not in template and "{relpath}" not in template:
        return VaesepError(f"{said}; put {{stem}} in the name, e.g. --name '{DEFAULT_TEMPLATE}'")
    if first.relpath != second.relpath and "{relpath}" not in template:
        tree = template.replace("{stem}", "{relpath}") if "{stem}" in template else TREE_TEMPLATE
        return VaesepError(
            f"{said}; keep the input folders' tree with --name '{tree}' (subfolders of "
            "--out-dir), or rename the inputs"
        )
    return VaesepError(
        f"{said}; give the inputs different names, or separate them in two runs with "
        "different --out-dir"
    )
