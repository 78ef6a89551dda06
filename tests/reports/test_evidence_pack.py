"""Evidence packs: what a pack holds, its verification, and what a changed byte or an edited
audit entry is named as."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from django.core.management import call_command

from governance.audit import checkpoints
from governance.audit.models import AuditEvent
from tests.audit.conftest import tamper
from workflows.reports import packs

pytestmark = pytest.mark.django_db


def pack_of(version, user, api_for) -> bytes:
    response = api_for(user).get(f"/api/v1/models/{version.model.slug}/versions/{version.number}/evidence-pack.zip")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    return b"".join(response.streaming_content)


def verify(tmp_path, data: bytes, *args) -> tuple[int, str]:
    path = tmp_path / "pack.zip"
    path.write_bytes(data)
    out = io.StringIO()
    try:
        call_command("verify_evidence_pack", str(path), *args, stdout=out)
        code = 0
    except SystemExit as exit:
        code = exit.code
    return code, out.getvalue()


def rewritten(data: bytes, name: str, change) -> bytes:
    """The pack with one member's bytes passed through ``change``, everything else as it was."""
    source = zipfile.ZipFile(io.BytesIO(data))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for member in source.namelist():
            content = source.read(member)
            target.writestr(member, change(content) if member == name else content)
    return buffer.getvalue()


def test_pack_holds_the_report_the_records_and_a_manifest_of_their_hashes(champion, audrey, api_for, tmp_path, drain_access):
    data = pack_of(champion, audrey, api_for)
    archive = zipfile.ZipFile(io.BytesIO(data))
    assert sorted(archive.namelist()) == ["manifest.json", "records.json", "report.pdf"]
    manifest = json.loads(archive.read("manifest.json"))
    records = json.loads(archive.read("records.json"))

    assert archive.read("report.pdf").startswith(b"%PDF")
    assert manifest["files"]["report.pdf"] == packs.sha256(archive.read("report.pdf"))
    assert manifest["chain_head"]["seq"] > 0 and len(manifest["chain_head"]["hash"]) == 64
    assert records["version"]["artifact_sha256"] == champion.artifact_sha256
    assert records["datasets"]["training"]["sha256"] == champion.training_dataset.sha256
    assert [s["printed_name"] for s in records["signoffs"]] == ["Carol Tester", "Dave Tester"]
    assert records["evidence"][0]["results"] and records["history"]
    actions = {entry["action"] for entry in records["audit_entries"]}
    assert "version.transition" in actions
    drain_access()
    assert AuditEvent.objects.filter(action="report.evidence_pack.downloaded", actor_username="audrey").exists()

    code, out = verify(tmp_path, data)
    assert code == 0, out
    assert "every file matches" in out and "against the trail" in out


def test_a_changed_byte_fails_and_names_the_file(champion, audrey, api_for, tmp_path):
    data = pack_of(champion, audrey, api_for)

    def flip_last_byte(content: bytes) -> bytes:
        return content[:-1] + bytes([content[-1] ^ 1])

    code, out = verify(tmp_path, rewritten(data, "report.pdf", flip_last_byte))
    assert code == 1
    assert "MISMATCH report.pdf: its SHA-256 does not match the manifest" in out
    assert "records.json:" not in out

    code, out = verify(tmp_path, rewritten(data, "records.json", lambda c: c.replace(b"Carol Tester", b"Carol Testor")))
    assert code == 1 and "MISMATCH records.json: its SHA-256 does not match" in out


def test_an_edited_audit_entry_is_named_against_the_trail(champion, audrey, api_for, tmp_path, db_owner):
    data = pack_of(champion, audrey, api_for)
    records = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("records.json"))
    signed = next(e for e in records["audit_entries"] if e["action"] == "version.transition")

    tamper("UPDATE audit_auditevent SET summary = %s WHERE seq = %s", ["Nothing to see.", signed["seq"]])

    code, out = verify(tmp_path, data)
    assert code == 1
    assert f"MISMATCH audit entry {signed['seq']} (version.transition): differs from the trail (summary)" in out
    # Checked against itself only, the pack is intact.
    code, out = verify(tmp_path, data, "--no-trail")
    assert code == 0 and "Not checked against the audit trail" in out


def test_signed_manifest_names_an_edit_to_the_manifest(champion, audrey, api_for, tmp_path, settings):
    private, _ = checkpoints.generate_keypair()
    settings.GOVERNANCE_AUDIT_CHECKPOINT_KEY = private
    data = pack_of(champion, audrey, api_for)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("manifest.json"))
    assert manifest["signature"]["algorithm"] == "Ed25519"

    code, out = verify(tmp_path, data)
    assert code == 0 and "signed with this portal's key" in out

    forged = rewritten(data, "manifest.json", lambda c: c.replace(b'"generated_by": "audrey"', b'"generated_by": "mallory"'))
    code, out = verify(tmp_path, forged)
    assert code == 1 and "MISMATCH manifest.json: the signature does not match its contents" in out

    unsigned = rewritten(data, "manifest.json", lambda c: json.dumps({**json.loads(c), "signature": None}).encode())
    code, out = verify(tmp_path, unsigned)
    assert code == 1 and "MISMATCH manifest.json: not signed" in out


def test_a_file_that_is_not_a_pack_is_named(tmp_path):
    code, out = verify(tmp_path, b"not a zip")
    assert code == 1 and "not a readable zip archive" in out


def test_outsider_gets_no_pack(champion, eve, api_for, drain_access):
    response = api_for(eve).get(f"/api/v1/models/{champion.model.slug}/versions/1/evidence-pack.zip")
    assert response.status_code == 404
    drain_access()
    assert not AuditEvent.objects.filter(action__startswith="report.", actor_username="eve").exists()
