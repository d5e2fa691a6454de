import numpy as np

from misc import fileio, provenance


def test_record_digest_ignores_tuple_list_and_key_order():
    a = provenance.record_digest({"scales": (1.0, 0.5), "step": "make_cam"})
    b = provenance.record_digest({"step": "make_cam", "scales": [1.0, 0.5]})
    assert a == b and a != provenance.record_digest({"step": "make_cam", "scales": [1.0]})


def test_survey_classifies_each_output(tmp_path):
    fileio.save_cam(tmp_path / "ok.npz", [0], np.zeros((1, 2, 2)), np.zeros((1, 4, 4)), record="abc")
    fileio.save_cam(tmp_path / "old.npz", [0], np.zeros((1, 2, 2)), np.zeros((1, 4, 4)), record="old")
    fileio.save_png(tmp_path / "ok.png", np.zeros((3, 3)), record="abc")
    fileio.save_cam(tmp_path / "cut.npz", [0], np.zeros((1, 2, 2)), np.zeros((1, 4, 4)), record="abc")
    data = (tmp_path / "cut.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    fileio.save_png(tmp_path / "cut.png", np.zeros((30, 30)), record="abc")
    data = (tmp_path / "cut.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:-12])
    names = ["ok.npz", "old.npz", "ok.png", "cut.npz", "cut.png", "gone.npz"]
    result = provenance.survey([tmp_path / n for n in names], "abc", fileio.read_record)
    assert result.ok == [0, 2] and result.stale == [1] and result.unreadable == [3, 4] and result.missing == [5]
    assert result.todo == [1, 3, 4, 5] and result.stale_digests == {"old": 1}


def test_explain_names_the_changed_setting(tmp_path):
    old = provenance.FolderRecord(tmp_path, {"step": "make_cam", "scales": [1.0]})
    old.commit()
    fileio.save_cam(tmp_path / "a.npz", [0], np.zeros((1, 2, 2)), np.zeros((1, 4, 4)), record=old.digest)
    new = provenance.FolderRecord(tmp_path, {"step": "make_cam", "scales": [1.0, 0.5]})
    result = provenance.survey([tmp_path / "a.npz", tmp_path / "b.npz"], new.digest, fileio.read_record)
    text = new.explain(result, 2)
    assert text == ("0 of 2 outputs are up to date; redoing 2: 1 missing, "
                    "1 made with other settings (scales: [1.0] -> [1.0, 0.5])")
    new.commit()
    assert provenance.current_digest(tmp_path) == new.digest
    assert set(provenance.load_folder_records(tmp_path)["records"]) == {old.digest, new.digest}


def test_file_digest_follows_content(tmp_path):
    import hashlib
    import os

    p = tmp_path / "w.pth"
    p.write_bytes(b"one!")
    first = provenance.file_digest(p)
    assert first == hashlib.sha256(b"one!").hexdigest()[:16]
    st = p.stat()
    # Same size and the old modification time (as cp -p or rsync -t leave a swapped checkpoint of the same
    # network): a cache keyed on (size, mtime) alone would return the old digest.
    p.write_bytes(b"two!")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert p.stat().st_mtime_ns == st.st_mtime_ns and p.stat().st_size == st.st_size
    assert provenance.file_digest(p) == hashlib.sha256(b"two!").hexdigest()[:16]
