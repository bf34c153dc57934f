"""corelm.convert: the package it writes equals the CLI's, with progress reported."""

import subprocess

import pytest

import corelm


@pytest.mark.parametrize("quant", ["q4s32", "f16"])
def test_convert_writes_the_same_package_as_the_cli(data_dir, cli, tmp_path, quant):
    source = str(data_dir / "tiny-models/stories260K-hf")
    by_cli = tmp_path / "cli.clm"
    subprocess.run([cli, "convert", source, "-o", str(by_cli), "--quant", quant], check=True,
                   capture_output=True)
    seen = []
    report = corelm.convert(source, str(tmp_path / "py.clm"), quant=quant, progress=seen.append)
    assert (tmp_path / "py.clm").read_bytes() == by_cli.read_bytes()
    assert report["output"] == str(tmp_path / "py.clm")
    assert report["file_bytes"] == by_cli.stat().st_size
    assert report["parameters"] == 260032 and report["source_format"] == "safetensors"
    assert seen and seen[-1]["tensor_count"] == report["tensors"]
    assert [p["tensor_index"] for p in seen] == sorted(p["tensor_index"] for p in seen)
    model = corelm.Model.load(report["output"])
    assert model.info["quantization"] == quant


def test_lut4_group_size_matches_the_cli(data_dir, cli, tmp_path):
    source = str(data_dir / "tiny-models/stories260K-hf")
    by_cli = tmp_path / "cli.clm"
    subprocess.run([cli, "convert", source, "-o", str(by_cli), "--quant", "lut4", "--group-size",
                    "8"], check=True, capture_output=True)
    report = corelm.convert(source, str(tmp_path / "py.clm"), quant="lut4", group_size=8)
    assert (tmp_path / "py.clm").read_bytes() == by_cli.read_bytes()
    assert corelm.Model.load(report["output"]).info["quantization"] == "lut4"
    with pytest.raises(corelm.Error, match="--group-size 12"):
        corelm.convert(source, str(tmp_path / "bad.clm"), quant="lut4", group_size=12)


@pytest.mark.parametrize("quant", ["lut3", "lut6"])
def test_lut3_lut6_match_the_cli(data_dir, cli, tmp_path, quant):
    source = str(data_dir / "tiny-models/stories260K-hf")
    by_cli = tmp_path / "cli.clm"
    subprocess.run([cli, "convert", source, "-o", str(by_cli), "--quant", quant], check=True,
                   capture_output=True)
    report = corelm.convert(source, str(tmp_path / "py.clm"), quant=quant)
    assert (tmp_path / "py.clm").read_bytes() == by_cli.read_bytes()
    assert corelm.Model.load(report["output"]).info["quantization"] == quant


def test_imatrix_matches_the_cli(data_dir, cli, tmp_path):
    source = str(data_dir / "tiny-models/stories260K-hf")
    f32 = tmp_path / "f32.clm"
    subprocess.run([cli, "convert", source, "-o", str(f32), "--quant", "f32"], check=True,
                   capture_output=True)
    imatrix = tmp_path / "s.clmi"
    subprocess.run([cli, "imatrix", str(f32), "--text",
                    str(data_dir / "text/botchan.txt"), "--ctx", "64", "--chunks", "4", "-o",
                    str(imatrix)], check=True, capture_output=True)
    by_cli = tmp_path / "cli.clm"
    subprocess.run([cli, "convert", source, "-o", str(by_cli), "--quant", "q4s32", "--imatrix",
                    str(imatrix)], check=True, capture_output=True)
    corelm.convert(source, str(tmp_path / "py.clm"), quant="q4s32", imatrix=str(imatrix))
    assert (tmp_path / "py.clm").read_bytes() == by_cli.read_bytes()
    with pytest.raises(corelm.Error, match="not an importance matrix"):
        corelm.convert(source, str(tmp_path / "bad.clm"), imatrix=str(f32))


def test_a_raising_progress_callback_stops_the_conversion(data_dir, tmp_path):
    class Stop(Exception):
        pass

    def progress(p):
        if p["tensor_index"] >= 3:
            raise Stop("enough")

    out = tmp_path / "model.clm"
    with pytest.raises(Stop, match="enough"):
        corelm.convert(str(data_dir / "tiny-models/stories260K-hf"), str(out), progress=progress)
    assert list(tmp_path.iterdir()) == []


def test_quant_names():
    names = corelm.quant_names()
    assert {"q4s32", "q8s32", "f16", "f32"} <= set(names)
