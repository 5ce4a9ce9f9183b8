"""Corpus preparers on tiny fixture trees laid out as each corpus is distributed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from usam_toolkit.data.manifest import read_manifest
from usam_toolkit.data.report import BadSampleReport
from usam_toolkit.interfaces import BuildContext

TASKS = {"asr", "s2tt", "aac", "mc"}


def preparer(name: str, **fields):
    from usam_toolkit.plugins import load_registry

    return load_registry(entry_points=False).build("datasets", {"name": name, **fields}, BuildContext(), name)


def load(path: Path):
    ex = read_manifest(path, known_tasks=TASKS)
    for e in ex:
        assert Path(e.audio).is_file(), e.audio
    return {e.id: e for e in ex}


def skipped(out: Path, corpus: str):
    return BadSampleReport.read(out / f"{corpus}_skipped.jsonl")


def test_librispeech(tmp_path, write_audio):
    root, out = tmp_path / "ls", tmp_path / "out"
    chap = root / "LibriSpeech" / "dev-clean" / "84" / "121123"
    write_audio(chap / "84-121123-0000.flac", 0.3)
    write_audio(chap / "84-121123-0001.flac", 0.2)
    (chap / "84-121123.trans.txt").write_text(
        "84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS\n84-121123-0002 NO AUDIO HERE\n"
    )
    written = preparer("librispeech").prepare(root, out)
    assert [p.name for p in written] == ["librispeech_dev-clean.jsonl"]
    ex = load(written[0])
    assert set(ex) == {"84-121123-0000", "84-121123-0001"}
    e = ex["84-121123-0000"]
    assert (e.task, e.target, e.speaker, e.group) == ("asr", "go do you hear", "84", "84-121123")
    assert e.duration == pytest.approx(0.3)
    assert not Path(json.loads(written[0].read_text().splitlines()[0])["audio"]).is_absolute()
    miss = skipped(out, "librispeech")
    assert [(b.id, b.reason, b.line) for b in miss] == [("84-121123-0002", "missing", 3)]


def test_covost2_released_tsv_joined_with_common_voice(tmp_path, write_audio):
    root, out = tmp_path / "cv", tmp_path / "out"
    en = root / "cv-corpus-4" / "en"
    write_audio(en / "clips" / "common_voice_en_1.wav", 0.3)
    write_audio(en / "clips" / "common_voice_en_2.wav", 0.2)
    (en / "validated.tsv").write_text(
        "client_id\tpath\tsentence\tup_votes\n"
        "spk1\tcommon_voice_en_1.wav\tHello there.\t2\n"
        'spk2\tcommon_voice_en_2.wav\tGood "morning".\t2\n'
    )
    (root / "covost_v2.en_de.tsv").write_text(
        "path\ttranslation\tsplit\n"
        "common_voice_en_1.wav\tHallo.\ttrain\n"
        "common_voice_en_2.wav\tGuten Morgen.\ttest\n"
    )
    (root / "covost_v2.en_zh-CN.test.tsv").write_text(
        'path\tsentence\ttranslation\tclient_id\ncommon_voice_en_2.wav\tGood "morning".\t早上好。\tspk2\n'
    )
    written = preparer("covost2", splits=["train", "test"], target_langs=["de", "zh-CN"]).prepare(root, out)
    assert sorted(p.name for p in written) == [
        "covost2_en_de_test.jsonl",
        "covost2_en_de_train.jsonl",
        "covost2_en_zh_test.jsonl",
    ]
    de = load(out / "covost2_en_de_test.jsonl")["common_voice_en_2"]
    assert (de.task, de.target, de.source_text, de.target_lang, de.speaker) == (
        "s2tt",
        "Guten Morgen.",
        'Good "morning".',
        "de",
        "spk2",
    )
    zh = load(out / "covost2_en_zh_test.jsonl")["common_voice_en_2"]
    assert (zh.target, zh.target_lang, zh.source_lang) == ("早上好。", "zh", "en")
    assert zh.group == de.group  # same sentence, same group in both languages
    assert load(out / "covost2_en_de_train.jsonl")["common_voice_en_1"].target == "Hallo."


def test_audiocaps(tmp_path, write_audio):
    root, out = tmp_path / "ac", tmp_path / "out"
    (root / "dataset").mkdir(parents=True)
    (root / "dataset" / "train.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "91139,r1nicOVtvkQ,130,A woman talks nearby as water pours\n"
        "58146,UDGBjjwyaqE,20,Multiple clanging and clanking sounds\n"
        "11111,missingVid0,0,Nothing here\n"
    )
    (root / "dataset" / "test.csv").write_text(
        "audiocap_id,youtube_id,start_time,caption\n"
        "1,abcdefghijk,30,A dog barks\n2,abcdefghijk,30,Barking of a dog\n"
    )
    write_audio(root / "audio" / "train" / "r1nicOVtvkQ_130.flac", 0.3)  # aac-datasets naming
    write_audio(root / "audio" / "train" / "YUDGBjjwyaqE.wav", 0.3)  # AudioSet-style naming
    write_audio(root / "audio" / "test" / "abcdefghijk.wav", 0.3)  # plain youtube id
    written = preparer("audiocaps", splits=["train", "test"]).prepare(root, out)
    assert sorted(p.name for p in written) == ["audiocaps_test.jsonl", "audiocaps_train.jsonl"]
    train = load(out / "audiocaps_train.jsonl")
    assert set(train) == {"r1nicOVtvkQ_130", "UDGBjjwyaqE_20"}
    assert train["r1nicOVtvkQ_130"].target == "A woman talks nearby as water pours"
    test = load(out / "audiocaps_test.jsonl")["abcdefghijk_30"]
    assert test.target == ["A dog barks", "Barking of a dog"] and test.task == "aac"
    assert [b.id for b in skipped(out, "audiocaps")] == ["missingVid0_0"]


def test_clotho(tmp_path, write_audio):
    root, out = tmp_path / "clotho", tmp_path / "out"
    root.mkdir()
    (root / "clotho_captions_evaluation.csv").write_text(
        "file_name,caption_1,caption_2,caption_3,caption_4,caption_5\n"
        '"Radio Garble, short.wav",A radio talks.,Static on a radio.,People talk on a radio.,'
        "A walkie-talkie hisses.,Voices over static.\n"
    )
    write_audio(root / "evaluation" / "Radio Garble, short.wav", 0.4, sr=44100)
    written = preparer("clotho").prepare(root, out)
    assert [p.name for p in written] == ["clotho_evaluation.jsonl"]
    e = load(written[0])["Radio Garble, short"]
    assert e.target[0] == "A radio talks." and len(e.target) == 5 and e.task == "aac"
    assert e.duration == pytest.approx(0.4)


def test_wavcaps(tmp_path, write_audio):
    root, out = tmp_path / "wavcaps", tmp_path / "out"
    js = root / "json_files"
    (js / "AudioSet_SL").mkdir(parents=True)
    (js / "SoundBible").mkdir(parents=True)
    (js / "AudioSet_SL" / "as_final.json").write_text(
        json.dumps(
            {
                "num_captions_per_audio": 1,
                "data": [
                    {
                        "id": "Yb0RFKhbpFJA.wav",
                        "caption": "Rain falls on a roof.",
                        "audio": "wav_path",
                        "duration": 0.3,
                    }
                ],
            }
        )
    )
    (js / "SoundBible" / "sb_final.json").write_text(
        json.dumps(
            {
                "num_captions_per_audio": 1,
                "data": [
                    {
                        "title": "Bell",
                        "id": "2071",
                        "caption": "A bell rings.",
                        "audio": "wav_path",
                        "duration": 0.2,
                    },
                    {
                        "title": "Gone",
                        "id": "9999",
                        "caption": "Nothing.",
                        "audio": "wav_path",
                        "duration": 1.0,
                    },
                ],
            }
        )
    )
    wf = root / "mnt" / "WavCaps" / "data" / "waveforms"
    write_audio(wf / "AudioSet_SL_flac" / "Yb0RFKhbpFJA.flac", 0.3)
    write_audio(wf / "SoundBible_flac" / "2071.flac", 0.2)
    write_audio(wf / "FreeSound_flac" / "2071.flac", 0.5)  # same id in another source must not match
    written = preparer("wavcaps").prepare(root, out)
    assert sorted(p.name for p in written) == ["wavcaps_audioset_sl.jsonl", "wavcaps_soundbible.jsonl"]
    sb = load(out / "wavcaps_soundbible.jsonl")
    assert (
        set(sb) == {"2071"} and "SoundBible_flac" in sb["2071"].audio and sb["2071"].target == "A bell rings."
    )
    assert set(load(out / "wavcaps_audioset_sl.jsonl")) == {"Yb0RFKhbpFJA"}
    assert [b.id for b in skipped(out, "wavcaps")] == ["9999"]


def test_clotho_records_the_freesound_id(tmp_path, write_audio):
    root, out = tmp_path / "clotho", tmp_path / "out"
    root.mkdir()
    captions = "file_name,caption_1,caption_2\nbell.wav,A bell.,Bells.\n"
    (root / "clotho_captions_evaluation.csv").write_text(captions)
    (root / "clotho_metadata_evaluation.csv").write_text(
        "file_name,keywords,sound_id,sound_link\nbell.wav,bell,2071,https://freesound.org/s/2071\n"
    )
    write_audio(root / "evaluation" / "bell.wav", 0.2)
    written = preparer("clotho").prepare(root, out)
    assert load(written[0])["bell"].get("freesound_id") == "2071"


def _wavcaps_source(root, source, items):
    folder = root / "json_files" / source
    folder.mkdir(parents=True, exist_ok=True)
    data = [{"id": i, "caption": f"caption of {i}", "audio": "wav_path", "duration": 0.2} for i in items]
    meta = {"num_captions_per_audio": 1, "data": data}
    (folder / f"{source.lower()}_final.json").write_text(json.dumps(meta))


def test_wavcaps_leaves_out_the_test_clips_it_is_given(tmp_path, write_audio, write_jsonl):
    root, out = tmp_path / "wavcaps", tmp_path / "out"
    _wavcaps_source(root, "AudioSet_SL", ["Yb0RFKhbpFJA.wav", "Yq1w2e3r4t5y.wav"])
    _wavcaps_source(root, "FreeSound", ["2071", "555"])
    _wavcaps_source(root, "SoundBible", ["2071"])  # another source's id space: kept
    for stem, src in (("Yq1w2e3r4t5y", "AudioSet_SL"), ("555", "FreeSound"), ("2071", "SoundBible")):
        write_audio(root / "audio" / f"{src}_flac" / f"{stem}.flac", 0.2)
    tests = tmp_path / "tests"
    ac = write_jsonl(
        tests / "audiocaps_test.jsonl",
        [
            {
                "id": "b0RFKhbpFJA_30",
                "audio": "x.wav",
                "task": "aac",
                "target": ["rain"],
                "group": "b0RFKhbpFJA",
            },
            {
                "id": "zzzzzzzzzzz_0",
                "audio": "y.wav",
                "task": "aac",
                "target": ["wind"],
                "group": "zzzzzzzzzzz",
            },
        ],
    )
    clotho = write_jsonl(
        tests / "clotho_evaluation.jsonl",
        [
            {"id": "bell", "audio": "bell.wav", "task": "aac", "target": ["a bell"], "freesound_id": "2071"},
        ],
    )
    prep = preparer("wavcaps", exclude_audiocaps=[str(ac)], exclude_clotho=[str(clotho)])
    prep.prepare(root, out)
    assert set(load(out / "wavcaps_audioset_sl.jsonl")) == {"Yq1w2e3r4t5y"}
    assert set(load(out / "wavcaps_freesound.jsonl")) == {"555"}
    assert set(load(out / "wavcaps_soundbible.jsonl")) == {"2071"}
    assert prep.leaked == {"AudioSet_SL": 1, "FreeSound": 1}
    listed = [json.loads(line) for line in (out / "wavcaps_excluded.jsonl").read_text().splitlines()]
    assert [(x["source"], x["id"], x["matched"]) for x in listed] == [
        ("AudioSet_SL", "Yb0RFKhbpFJA", "b0RFKhbpFJA"),
        ("FreeSound", "2071", "2071"),
    ]
    assert skipped(out, "wavcaps") == []  # a clip left out for leakage is not looked for


def test_wavcaps_clotho_manifest_without_freesound_ids_is_an_error(tmp_path, write_jsonl):
    from usam_toolkit.errors import DataError

    root = tmp_path / "wavcaps"
    _wavcaps_source(root, "FreeSound", ["2071"])
    clotho = write_jsonl(
        tmp_path / "clotho_evaluation.jsonl",
        [
            {"id": "bell", "audio": "bell.wav", "task": "aac", "target": ["a bell"]},
        ],
    )
    expected = r"clotho_evaluation.jsonl:1.*no 'freesound_id'.*clotho_metadata_<split>.csv"
    with pytest.raises(DataError, match=expected):
        preparer("wavcaps", exclude_clotho=[str(clotho)]).prepare(root, tmp_path / "out")


def test_musiccaps(tmp_path, write_audio):
    root, out = tmp_path / "mc", tmp_path / "out"
    root.mkdir()
    (root / "musiccaps-public.csv").write_text(
        "ytid,start_s,end_s,audioset_positive_labels,aspect_list,caption,author_id,is_balanced_subset,"
        "is_audioset_eval\n"
        '-0Gj8-vB1q4,30,40,"/m/0140xf","[\'low quality\', \'sustained strings\']","A low quality recording, '
        'with strings.",4,False,True\n'
        "-0SdAVK79lg,30,40,/m/0155w,\"['guitar']\",A guitar song.,0,False,False\n"
    )
    write_audio(root / "music_data" / "-0Gj8-vB1q4.wav", 0.3)
    write_audio(root / "music_data" / "[-0SdAVK79lg]-[30-40].wav", 0.3)
    written = preparer("musiccaps").prepare(root, out)
    assert sorted(p.name for p in written) == ["musiccaps_test.jsonl", "musiccaps_train.jsonl"]
    test = load(out / "musiccaps_test.jsonl")["-0Gj8-vB1q4"]
    assert test.task == "mc" and test.target == "A low quality recording, with strings."
    assert test.extra["aspect_list"] == "['low quality', 'sustained strings']"
    assert set(load(out / "musiccaps_train.jsonl")) == {"-0SdAVK79lg"}


def test_prepare_cli(tmp_path, write_audio, capsys):
    from usam_toolkit.cli import main

    root, out = tmp_path / "ls", tmp_path / "out"
    chap = root / "LibriSpeech" / "test-clean" / "1" / "2"
    write_audio(chap / "1-2-0000.flac", 0.2)
    (chap / "1-2.trans.txt").write_text("1-2-0000 HELLO\n")
    assert (
        main(["prepare", "librispeech", "--root", str(root), "--out", str(out), "--set", "lowercase=false"])
        == 0
    )
    assert "1 examples" in capsys.readouterr().out
    assert load(out / "librispeech_test-clean.jsonl")["1-2-0000"].target == "HELLO"
    assert main(["prepare", "librispeech", "--root", str(root), "--out", str(out), "--set", "bogus=1"]) == 2
    assert "'bogus' is not a field" in capsys.readouterr().err
