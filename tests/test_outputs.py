"""The outputs of ``vaesep separate`` (the bundled default model): names from ``--name``, the
file format and sample type (``--format``, ``--subtype``, else the input's where possible),
``--quiet``, the progress bar over seconds of audio, clipping of integer samples, and one-line
errors that write nothing."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from cli_helpers import assert_user_error, run
from typer.testing import Result

from vaesep.io.audio import audio_writers, resample
from vaesep.io.progress import audio_seconds, progress_bar
from vaesep.separation.separator import Separator
from vaesep.zoo import pretrained

RATE = 16000
SOURCES = ("female", "male")
# One step of each sample type: libsndfile floors floats to integers, so each of the two
# estimates is up to one step below its float value and their sum up to two below the mixture.
STEP = {"PCM_16": 2.0**-15, "PCM_24": 2.0**-23, "FLOAT": 1e-6}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mixture(seconds: float = 0.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Two harmonic tones (a high and a low one) and a little noise, peak about 0.45."""
    t = np.arange(int(seconds * rate)) / rate
    noise = np.random.default_rng(seed).standard_normal(len(t))
    tones = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 110 * t)
    return (tones + 0.01 * noise).astype(np.float32)


def write_input(
    path: Path,
    subtype: str = "PCM_16",
    fmt: str | None = None,
    rate: int = RATE,
    seconds: float = 0.5,
    seed: int = 0,
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), mixture(seconds, rate, seed), rate, subtype=subtype, format=fmt)
    return path


def separate(out: Path, *args: object) -> Result:
    """``vaesep separate ARGS --out-dir OUT`` with the bundled default model; must succeed."""
    result = run("separate", *args, "--out-dir", out)
    assert result.exit_code == 0, (result.output, result.exception)
    assert "Traceback" not in result.output
    return result


def written(out: Path) -> list[Path]:
    """Every file under ``out`` (hidden ones too), relative to it."""
    return sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file()) if out.exists() else []


@cache
def model_rate() -> int:
    """The bundled default model's sample rate (inputs at another rate go through it)."""
    return Separator.pretrained(device="cpu").sample_rate


def assert_separated(mix: Path, outs: dict[str, Path], fmt: str, subtype: str) -> None:
    """Both outputs in ``fmt``/``subtype`` at the input's rate and length, summing to it (the
    masks sum to one; at another rate than the model's, to its round trip through that rate)."""
    info = sf.info(str(mix))
    for path in outs.values():
        got = sf.info(str(path))
        assert (got.format, got.subtype) == (fmt, subtype), (path, got.format, got.subtype)
        assert (got.samplerate, got.frames, got.channels) == (info.samplerate, info.frames, 1)
    x, rate = sf.read(str(mix), dtype="float32")
    if rate != model_rate():
        x = resample(resample(x, rate, model_rate()), model_rate(), rate)
    total = sum(sf.read(str(p), dtype="float64")[0] for p in outs.values())
    error = np.abs(total - x).max()
    assert error <= 2 * STEP[subtype] + 1e-6, error


# --- the default format follows the input ----------------------------------------------------

DEFAULTS = {
    # input name, (soundfile format, subtype, rate), expected output (format, subtype)
    "pcm16.wav": (("WAV", "PCM_16", 16000), ("WAV", "PCM_16")),
    "pcm24.flac": (("FLAC", "PCM_24", 22050), ("FLAC", "PCM_24")),
    "float.wav": (("WAV", "FLOAT", 8000), ("WAV", "FLOAT")),
    "pcm24.wav": (("WAV", "PCM_24", 16000), ("WAV", "PCM_24")),
    "pcm16.flac": (("FLAC", "PCM_16", 16000), ("FLAC", "PCM_16")),
    "s8.flac": (("FLAC", "PCM_S8", 16000), ("FLAC", "PCM_24")),
    "vorbis.ogg": (("OGG", "VORBIS", 16000), ("WAV", "FLOAT")),
    "u8.wav": (("WAV", "PCM_U8", 16000), ("WAV", "FLOAT")),
    "sphere.sph": (("NIST", "PCM_16", 16000), ("WAV", "FLOAT")),
    # WAVE_FORMAT_EXTENSIBLE, as sox, ffmpeg and DAWs write 24-bit WAV; RF64 (beyond 4 GiB)
    "pcm24x.wav": (("WAVEX", "PCM_24", 16000), ("WAVEX", "PCM_24")),
    "pcm16x.wav": (("WAVEX", "PCM_16", 22050), ("WAVEX", "PCM_16")),
    "floatx.wav": (("WAVEX", "FLOAT", 16000), ("WAVEX", "FLOAT")),
    "rf64.wav": (("RF64", "PCM_24", 16000), ("RF64", "PCM_24")),
}


@pytest.mark.parametrize("name", DEFAULTS)
def test_default_format_follows_the_input(tmp_path, name):
    (fmt, subtype, rate), (want_fmt, want_subtype) = DEFAULTS[name]
    mix = write_input(tmp_path / name, subtype, fmt, rate)
    out = tmp_path / "out"
    separate(out, mix)
    ext = "flac" if want_fmt == "FLAC" else "wav"
    outs = {s: out / f"{mix.stem}_{s}.{ext}" for s in SOURCES}
    assert written(out) == sorted(p.relative_to(out) for p in outs.values())
    assert_separated(mix, outs, want_fmt, want_subtype)


@pytest.mark.parametrize(
    ("options", "expected"),
    [([], ("WAVEX", "PCM_24")), (["--format", "wav"], ("WAV", "PCM_24")),
     (["--format", "flac"], ("FLAC", "PCM_24"))],
)  # fmt: skip
def test_a_24_bit_extensible_wav_keeps_its_sample_type(tmp_path, options, expected):
    """Two channels of 24-bit WAVE_FORMAT_EXTENSIBLE (a DAW's export): 24-bit mono outputs."""
    mix = tmp_path / "daw.wav"
    sf.write(str(mix), np.stack([mixture(), mixture()], 1), RATE, "PCM_24", format="WAVEX")
    assert (sf.info(str(mix)).format, sf.info(str(mix)).subtype) == ("WAVEX", "PCM_24")
    out = tmp_path / "out"
    separate(out, mix, *options)
    outs = {s: out / f"daw_{s}.{'flac' if 'flac' in options else 'wav'}" for s in SOURCES}
    assert written(out) == sorted(p.relative_to(out) for p in outs.values())
    for path in outs.values():
        got = sf.info(str(path))
        assert (got.format, got.subtype, got.channels) == (*expected, 1), path
        assert (got.samplerate, got.frames) == (RATE, len(mixture()))


def test_one_line_per_input_no_bar_off_a_terminal_no_temporary_files(tmp_path):
    inputs = [
        write_input(tmp_path / "in" / "a.wav"),
        write_input(tmp_path / "in" / "b.flac", "PCM_24"),
        write_input(tmp_path / "in" / "c.ogg", "VORBIS"),
    ]
    out = tmp_path / "out"
    result = separate(out, *inputs)
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3 and all(" -> " in line for line in lines), result.stdout
    for mix, line in zip(inputs, lines):
        assert line.startswith(f"{mix} -> "), line
    assert result.stderr == ""  # CliRunner's stderr is no terminal: no progress bar
    assert [p.name for p in written(out)] == [
        "a_female.wav", "a_male.wav", "b_female.flac", "b_male.flac", "c_female.wav", "c_male.wav"
    ]  # fmt: skip
    assert not list(out.rglob(".*")), "a temporary .part file was left behind"


# --- --format and --subtype ------------------------------------------------------------------

CHOSEN = [
    # input (name, subtype), options, expected output (format, subtype)
    (("float.wav", "FLOAT"), ["--format", "flac"], ("FLAC", "PCM_24")),
    (("pcm24.flac", "PCM_24"), ["--format", "wav", "--subtype", "PCM_16"], ("WAV", "PCM_16")),
    (("pcm16.wav", "PCM_16"), ["--subtype", "PCM_24"], ("WAV", "PCM_24")),
    (("pcm16.wav", "PCM_16"), ["--subtype", "FLOAT"], ("WAV", "FLOAT")),
    (("vorbis.ogg", "VORBIS"), ["--format", "flac"], ("FLAC", "PCM_24")),
    (("float.wav", "FLOAT"), ["--format", "FLAC", "--subtype", "pcm_16"], ("FLAC", "PCM_16")),
]


@pytest.mark.parametrize(("given", "options", "expected"), CHOSEN)
def test_format_and_subtype_options(tmp_path, given, options, expected):
    mix = write_input(tmp_path / given[0], given[1])
    out = tmp_path / "out"
    separate(out, mix, *options)
    outs = {s: out / f"{mix.stem}_{s}.{expected[0].lower()}" for s in SOURCES}
    assert written(out) == sorted(p.relative_to(out) for p in outs.values())
    assert_separated(mix, outs, *expected)


# --- one-line errors, nothing written --------------------------------------------------------

REFUSED = [
    (["--format", "ogg"], "--format 'ogg': use wav or flac"),
    (["--subtype", "PCM_32"], "--subtype 'PCM_32': use one of"),
    (["--subtype", "FLOAT", "--format", "flac"], "flac files cannot hold it"),
    (["--name", "{stem}.{ext}"], "needs {source}"),
    (["--name", "{nope}_{source}"], "unknown field {nope}"),
    (["--name", "{stem_{source}"], "--name '{stem_{source}'"),
    (["--name", "../{stem}_{source}.{ext}"], "must stay inside --out-dir"),
    (["--name", "sub/../../{stem}_{source}.{ext}"], "must stay inside --out-dir"),
    (["--name", "/tmp/{stem}_{source}.{ext}"], "must stay inside --out-dir"),
]


@pytest.mark.parametrize(("options", "needle"), REFUSED)
def test_bad_options_are_refused(tmp_path, options, needle):
    mix = write_input(tmp_path / "mix.wav")
    out = tmp_path / "out"
    assert_user_error(run("separate", mix, "--out-dir", out, *options), needle)
    assert written(out) == []


def test_subtype_the_inputs_format_cannot_hold(tmp_path):
    mix = write_input(tmp_path / "mix.flac", "PCM_24")
    out = tmp_path / "out"
    result = run("separate", mix, "--out-dir", out, "--subtype", "FLOAT")
    assert_user_error(result, "--subtype FLOAT does not fit its format FLAC; add --format wav")
    assert str(mix) in result.stderr
    assert written(out) == []


def test_two_inputs_writing_one_file(tmp_path):
    a, b = write_input(tmp_path / "a.wav"), write_input(tmp_path / "b.wav")
    out = tmp_path / "out"
    result = run("separate", a, b, "--out-dir", out, "--name", "x_{source}.{ext}")
    assert_user_error(result, "would both write")
    assert str(a) in result.stderr and str(b) in result.stderr and "{stem}" in result.stderr
    assert written(out) == []  # not even the first input's outputs


def test_a_name_over_the_limit_names_the_fix_and_writes_nothing(tmp_path):
    stem = "n" * 248  # the input's name (252 bytes) fits, <stem>_female.wav (259) does not
    mix = write_input(tmp_path / f"{stem}.wav")
    out = tmp_path / "out"
    assert_user_error(run("separate", mix, "--out-dir", out), "--name")
    assert written(out) == []
    separate(out, mix, "--name", "sep_{source}.{ext}")
    assert [p.name for p in written(out)] == ["sep_female.wav", "sep_male.wav"]
    assert_separated(mix, {s: out / f"sep_{s}.wav" for s in SOURCES}, "WAV", "PCM_16")


def test_a_folder_over_the_limit_is_refused_too(tmp_path):
    mix = write_input(tmp_path / f"{'d' * 150}.wav")  # {stem}{stem}: a 300-byte folder name
    out = tmp_path / "out"
    result = run("separate", mix, "--out-dir", out, "--name", "{stem}{stem}/{source}.{ext}")
    assert_user_error(result, "--name")
    assert "300 bytes" in result.stderr
    assert written(out) == []


@pytest.mark.parametrize("utt", ["../escaped", "sub/../../escaped", "/abs/escaped"])
def test_an_scp_utterance_id_cannot_leave_the_out_dir(tmp_path, utt):
    mix = write_input(tmp_path / "in" / "mix.wav")
    utt = str(tmp_path / utt.lstrip("/")) if utt.startswith("/") else utt
    (tmp_path / "in" / "wav.scp").write_text(f"{utt} {mix}\n")
    out = tmp_path / "run" / "out"
    before = written(tmp_path)
    assert_user_error(run("separate", tmp_path / "in" / "wav.scp", "--out-dir", out), "escaped")
    assert written(tmp_path) == before


# --- --name ----------------------------------------------------------------------------------


def test_name_template_makes_subfolders(tmp_path):
    a, b = write_input(tmp_path / "a.wav"), write_input(tmp_path / "b.flac", "PCM_24")
    out = tmp_path / "out"
    result = separate(out, a, b, "--name", "{stem}/{source}.{ext}")
    assert written(out) == [
        Path("a/female.wav"), Path("a/male.wav"), Path("b/female.flac"), Path("b/male.flac")
    ]  # fmt: skip
    assert f"{a} -> {out / 'a' / 'female.wav'}, {out / 'a' / 'male.wav'}" in result.stdout
    assert_separated(b, {s: out / "b" / f"{s}.flac" for s in SOURCES}, "FLAC", "PCM_24")
    assert not list(out.rglob(".*")), "a temporary .part file was left behind"


def test_model_field_is_the_models_name(tmp_path):
    mix = write_input(tmp_path / "mix.wav")
    out = tmp_path / "out"
    separate(out, mix, "--name", "{model}-{stem}-{source}.{ext}")
    model = pretrained.resolve_model(None).name
    assert model == pretrained.DEFAULT
    assert [p.name for p in written(out)] == [f"{model}-mix-{s}.wav" for s in SOURCES]


# --- one name in several folders: {relpath} ---------------------------------------------------


def speaker_tree(root: Path) -> list[Path]:
    """A LibriSpeech/VCTK-like tree: one file name in two speakers' folders, one at the top."""
    names = ["spk1/ch1/0001.wav", "spk2/ch1/0001.wav", "top.wav"]
    return [write_input(root / name, seed=k) for k, name in enumerate(names)]


def test_one_file_name_in_two_folders_names_the_relpath_fix(tmp_path):
    a, b, _ = speaker_tree(tmp_path / "in")
    out = tmp_path / "out"
    for name, fix in [
        ("{stem}_{source}.{ext}", "--name '{relpath}_{source}.{ext}'"),  # the default
        ("{stem}/{source}.{ext}", "--name '{relpath}/{source}.{ext}'"),
        ("x_{source}.{ext}", "--name '{relpath}_{source}.{ext}'"),  # {stem} would not do
    ]:
        result = run("separate", tmp_path / "in", "--out-dir", out, "--name", name)
        assert_user_error(result, fix)
        assert f"{a} and {b} would both write" in result.stderr
    assert_user_error(run("separate", tmp_path / "in", "--out-dir", out), "{relpath}")
    assert written(out) == []


def test_relpath_mirrors_the_input_tree(tmp_path):
    inputs = speaker_tree(tmp_path / "in")
    out = tmp_path / "out"
    result = separate(out, tmp_path / "in", "--name", "{relpath}_{source}.{ext}")
    want = ["spk1/ch1/0001", "spk2/ch1/0001", "top"]
    assert written(out) == [Path(f"{w}_{s}.wav") for w in want for s in SOURCES]
    for mix, w in zip(inputs, want):
        assert f"{mix} -> {out / w}_female.wav, {out / w}_male.wav" in result.stdout
        assert_separated(mix, {s: out / f"{w}_{s}.wav" for s in SOURCES}, "WAV", "PCM_16")
    # a pattern: under its folders before the first wildcard; a file by itself: its stem
    pattern = str(tmp_path / "in" / "*" / "ch1" / "*.wav")
    separate(tmp_path / "o2", pattern, inputs[2], "--name", "{relpath}/{model}.{source}.{ext}")
    model = pretrained.resolve_model(None).name
    want = ["spk1/ch1/0001", "spk2/ch1/0001", "top"]
    assert written(tmp_path / "o2") == [Path(f"{w}/{model}.{s}.wav") for w in want for s in SOURCES]


def test_relpath_never_leaves_the_out_dir(tmp_path):
    from vaesep.separation.inputs import expand_inputs

    speaker_tree(tmp_path / "in")
    pattern = str(tmp_path / "in" / "*" / ".." / "top.wav")  # matches spk1/../top.wav, ...
    assert [(i.stem, i.relpath) for i in expand_inputs([pattern])] == [("top", "top")]
    out = tmp_path / "run" / "out"
    separate(out, pattern, "--name", "{relpath}/{source}.{ext}")
    assert written(tmp_path / "run") == [Path(f"out/top/{s}.wav") for s in SOURCES]
    # a file called ...wav has the stem '..': refused, nothing written
    write_input(tmp_path / "in" / "spk1" / "...wav", fmt="WAV")
    result = run(
        "separate",
        tmp_path / "in",
        "--out-dir",
        out,
        "--name",
        "{relpath}/{source}.{ext}",
        "--force",
    )
    assert_user_error(result, "would be written outside --out-dir")
    assert written(tmp_path / "run") == [Path(f"out/top/{s}.wav") for s in SOURCES]


def test_one_file_given_twice_is_separated_once_two_folders_alike_are_refused(tmp_path):
    a, b, top = speaker_tree(tmp_path / "in")
    out = tmp_path / "out"
    result = separate(out, top, tmp_path / "in" / "spk1" / ".." / "top.wav")
    assert result.stdout.count(" -> ") == 1
    result = run("separate", a.parent, b.parent, "--out-dir", tmp_path / "o2")
    assert_user_error(result, "separate them in two runs with different --out-dir")
    assert written(tmp_path / "o2") == []


# --- --quiet and the progress bar ------------------------------------------------------------


def test_quiet_prints_nothing(tmp_path):
    a, b = write_input(tmp_path / "a.wav"), write_input(tmp_path / "b.wav")
    out = tmp_path / "out"
    result = separate(out, a, b, "--quiet")
    assert "->" not in result.stdout and result.stdout.strip() == ""
    assert result.stderr == ""
    assert len(written(out)) == 4
    result = separate(tmp_path / "loud", a, b, "--force")
    assert result.stdout.count(" -> ") == 2 and len(result.stdout.strip().splitlines()) == 2
    result = separate(tmp_path / "short", a, "-q")
    assert result.stdout == ""


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal():
    stream = Terminal()
    with progress_bar(2.0, stream=stream) as bar:
        assert "0/2.0 s audio" in stream.getvalue()
        bar.update(0.5)
        bar.update(0.5)
    text = stream.getvalue()
    assert "1/2.0 s audio" in text and "50%" in text, text


def test_progress_bar_without_a_total_counts_seconds():
    stream = Terminal()
    with progress_bar(None, stream=stream) as bar:
        bar.update(1.5)
    assert "s audio" in stream.getvalue() and "?" in stream.getvalue()


@pytest.mark.parametrize("stream", [Terminal(), io.StringIO()], ids=["quiet", "no_terminal"])
def test_progress_bar_draws_nothing_when_quiet_or_off_a_terminal(stream):
    quiet = isinstance(stream, Terminal)
    with progress_bar(2.0, quiet=quiet, stream=stream) as bar:
        bar.update(1.0)
    assert stream.getvalue() == ""


def test_progress_lines_go_to_stdout(capsys):
    with progress_bar(1.0, stream=Terminal()) as bar:
        bar.write("a.wav -> a_female.wav, a_male.wav")
    captured = capsys.readouterr()
    assert captured.out == "a.wav -> a_female.wav, a_male.wav\n" and captured.err == ""


def test_audio_seconds_sums_durations_or_gives_up(tmp_path):
    a = write_input(tmp_path / "a.wav", seconds=0.5)
    b = write_input(tmp_path / "b.flac", "PCM_24", rate=8000, seconds=1.0)
    assert audio_seconds([a, b]) == pytest.approx(1.5)
    assert audio_seconds([]) == 0.0
    assert audio_seconds([a, f"cat {b} |"]) is None
    (tmp_path / "text.wav").write_text("not audio")
    assert audio_seconds([a, tmp_path / "text.wav"]) is None
    assert audio_seconds([tmp_path / "missing.wav"]) is None


# --- integer samples clip --------------------------------------------------------------------


@pytest.fixture
def notes() -> Iterator[list[str]]:
    """The messages logged on the ``vaesep`` logger at INFO and above during the test."""
    logger, seen = logging.getLogger("vaesep"), []
    handler = logging.Handler(logging.INFO)
    handler.emit = lambda record: seen.append(record.getMessage())
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield seen
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.mark.parametrize(("fmt", "subtype"), [("WAV", "PCM_16"), ("FLAC", "PCM_24")])
def test_integer_samples_clip_at_full_scale_with_a_note(tmp_path, notes, fmt, subtype):
    path = tmp_path / f"loud.{fmt.lower()}"
    samples = np.array([0.0, 0.5, 1.5, -1.5, 3.0, -0.25, 1.0, -1.0], dtype=np.float32)
    with audio_writers({"loud": path}, RATE, fmt, subtype) as writers:
        writers["loud"].write(samples[:4])
        writers["loud"].write(samples[4:])
    assert notes == [f"{path}: samples beyond full scale were clipped"]
    info = sf.info(str(path))
    assert (info.format, info.subtype, info.frames) == (fmt, subtype, len(samples))
    back, _ = sf.read(str(path), dtype="float64")
    assert np.all(np.abs(back) <= 1.0)
    expected = np.clip(samples, -1, 1)
    assert np.abs(back - expected).max() <= 2 * STEP[subtype], back  # clipped, not wrapped
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


def test_in_range_and_float_samples_get_no_note(tmp_path, notes):
    with audio_writers({"a": tmp_path / "a.wav"}, RATE, "WAV", "PCM_16") as writers:
        writers["a"].write(np.array([0.5, -1.0, 1.0], dtype=np.float32))
    with audio_writers({"b": tmp_path / "b.wav"}, RATE) as writers:
        writers["b"].write(np.array([0.5, 2.0, -3.0], dtype=np.float32))
    assert notes == []
    assert sf.info(str(tmp_path / "b.wav")).subtype == "FLOAT"
    assert sf.read(str(tmp_path / "b.wav"))[0].tolist() == [0.5, 2.0, -3.0]  # float keeps them


def test_a_folder_takes_mp3_and_names_the_files_it_cannot_read(tmp_path, caplog):
    import soundfile as sf

    from vaesep.errors import VaesepError
    from vaesep.io.audio import AUDIO_EXTENSIONS
    from vaesep.separation.inputs import expand_inputs

    folder = tmp_path / "in"
    folder.mkdir()
    tone = (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32)
    if ".mp3" in AUDIO_EXTENSIONS:
        sf.write(str(folder / "a.mp3"), tone, 16000, format="MP3")
    sf.write(str(folder / "b.wav"), tone, 16000)
    (folder / "c.m4a").write_bytes(b"\x00\x00\x00\x18ftypM4A ")
    found = expand_inputs([str(folder)])
    assert {i.stem for i in found} == ({"a", "b"} if ".mp3" in AUDIO_EXTENSIONS else {"b"})
    assert any("c.m4a" in r.getMessage() and "convert" in r.getMessage() for r in caplog.records)
    (folder / "b.wav").unlink()
    (folder / "a.mp3").unlink(missing_ok=True)
    listed = re.escape(f"no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    with pytest.raises(VaesepError, match=listed):
        expand_inputs([str(folder)])
