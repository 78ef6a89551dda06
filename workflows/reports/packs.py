"""Evidence packs: one zip per version for a regulator, and its verification.

A pack holds ``report.pdf`` (the version report), ``records.json`` (the version, its data sets,
its evidence, sign-offs, findings, history and its audit entries with their hashes) and
``manifest.json``: the SHA-256 of each file, the audit chain anchor the pack was made at, and an
Ed25519 signature over all of it with the audit checkpoint key (``GOVERNANCE_AUDIT_CHECKPOINT_KEY``)
where one is configured.

``pack_verify`` checks a pack against itself (file hashes, the signature, each audit entry
against its own hash) and, given the portal's database, against the trail (each entry and the
anchor as the trail holds them now). Every mismatch is named.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.utils import timezone

from governance.audit.models import HASHED_FIELDS
from governance.audit.services import access_append
from governance.registry.models import ModelVersion

from . import selectors, services

FORMAT = "governance-evidence-pack-v1"
# Signed bytes start with this, so a pack signature is never valid for anything else.
DOMAIN = b"governance-evidence-pack-v1\n"
MANIFEST = "manifest.json"


def canonical(body: dict) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_signed_bytes(manifest: dict) -> bytes:
    """What the signature covers: the manifest without its signature."""
    return DOMAIN + canonical({key: value for key, value in manifest.items() if key != "signature"})


def pack_path(version: ModelVersion, anchor: selectors.ChainAnchor) -> Path:
    return services.report_dir(version) / f"{anchor.key}-evidence-pack.zip"


def evidence_pack_build(*, version: ModelVersion, actor) -> Path:
    """The version's pack at the current anchor, made once and kept beside its report."""
    from governance.audit import checkpoints

    files = services.version_report_build(version=version, actor=actor)
    made = files.made()
    anchor = selectors.ChainAnchor(made["anchor_seq"], made["anchor_hash"])
    path = pack_path(version, anchor)
    if path.exists():
        return path
    pdf = files.pdf.read_bytes()
    records = canonical(selectors.version_records(version, anchor))
    manifest = {
        "format": FORMAT,
        "model": version.model.slug,
        "version": version.number,
        "artifact_sha256": version.artifact_sha256,
        "generated_at": selectors.utc(timezone.now()),
        "generated_by": actor.get_username(),
        "chain_head": {"seq": anchor.seq, "hash": anchor.hash},
        "files": {"report.pdf": sha256(pdf), "records.json": sha256(records)},
        "signature": None,
    }
    key = checkpoints.private_key()
    if key is not None:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        manifest["signature"] = {
            "algorithm": "Ed25519",
            "public_key": base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode(),
            "value": base64.b64encode(key.sign(manifest_signed_bytes(manifest))).decode(),
        }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("report.pdf", pdf)
        archive.writestr("records.json", records)
        archive.writestr(MANIFEST, json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False))
    services.write_atomically(path, buffer.getvalue())
    return path


def evidence_pack_open(*, version: ModelVersion, actor, request=None) -> Path:
    """The pack for download, the download an access entry of the trail."""
    path = evidence_pack_build(version=version, actor=actor)
    access_append(
        action="report.evidence_pack.downloaded",
        obj=version,
        actor=actor,
        request=request,
        summary=f"Evidence pack of {version} downloaded.",
        data={"sha256": sha256(path.read_bytes()), "file": path.name},
    )
    return path


# --- Verification -----------------------------------------------------------------------------


@dataclass
class PackCheck:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def pack_verify(data: bytes, *, against_trail: bool = True) -> PackCheck:
    """Check a pack's bytes; ``against_trail``: also against this portal's audit trail."""
    result = PackCheck()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        contents = {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        result.problems.append(f"The file is not a readable zip archive: {error}")
        return result
    try:
        manifest = json.loads(contents[MANIFEST])
        listed = dict(manifest["files"])
        anchor = manifest["chain_head"]
    except (KeyError, ValueError, TypeError):
        result.problems.append(f"{MANIFEST}: missing or not a manifest of this portal.")
        return result

    for name, expected in sorted(listed.items()):
        if name not in contents:
            result.problems.append(f"{name}: listed in the manifest but missing from the pack.")
        elif sha256(contents[name]) != expected:
            result.problems.append(f"{name}: its SHA-256 does not match the manifest (the file was changed).")
    for name in sorted(set(contents) - set(listed) - {MANIFEST}):
        result.problems.append(f"{name}: in the pack but not in the manifest.")

    _check_signature(manifest, result)

    entries = []
    if "records.json" in contents:
        try:
            entries = json.loads(contents["records.json"]).get("audit_entries", [])
        except (ValueError, AttributeError):
            result.problems.append("records.json: not readable JSON.")
    from governance.audit.hashing import content_hash

    for entry in entries:
        try:
            recomputed = content_hash([entry[name] for name in HASHED_FIELDS])
        except KeyError as missing:
            result.problems.append(f"records.json: audit entry {entry.get('seq', '?')} lacks the field {missing}.")
            continue
        if recomputed != entry.get("hash"):
            result.problems.append(
                f"records.json: audit entry {entry['seq']} ({entry['action']}) does not match its own hash."
            )
    if against_trail:
        _check_against_trail(entries, anchor, result)
    else:
        result.notes.append("Not checked against the audit trail.")
    return result


def _check_signature(manifest: dict, result: PackCheck) -> None:
    from cryptography.exceptions import InvalidSignature

    from governance.audit import checkpoints

    signature = manifest.get("signature")
    trusted = checkpoints.public_key()
    if not signature:
        if trusted is not None:
            result.problems.append(f"{MANIFEST}: not signed, but this portal signs its packs.")
        else:
            result.notes.append(f"{MANIFEST}: not signed (no signing key was configured where it was made).")
        return
    try:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        key = trusted or Ed25519PublicKey.from_public_bytes(base64.b64decode(signature["public_key"], validate=True))
        key.verify(base64.b64decode(signature["value"], validate=True), manifest_signed_bytes(manifest))
    except (InvalidSignature, KeyError, TypeError, ValueError):
        result.problems.append(f"{MANIFEST}: the signature does not match its contents (the manifest was changed).")
        return
    if trusted is None:
        result.notes.append(
            f"{MANIFEST}: signature matches the key it names; set GOVERNANCE_AUDIT_CHECKPOINT_PUBLIC_KEY to check "
            "that key is the portal's."
        )
    else:
        result.notes.append(f"{MANIFEST}: signed with this portal's key.")


def _check_against_trail(entries: list[dict], anchor: dict, result: PackCheck) -> None:
    from django.db import DatabaseError

    from governance.audit.hashing import content_hash
    from governance.audit.models import AuditEvent

    seqs = [entry["seq"] for entry in entries if isinstance(entry.get("seq"), int)]
    try:
        rows = {
            row[0]: row
            for row in AuditEvent.objects.filter(seq__in=seqs + [anchor.get("seq")]).values_list(*HASHED_FIELDS, "hash")
        }
    except DatabaseError as error:
        result.notes.append(f"Not checked against the audit trail: the portal's database cannot be read ({error}).")
        return
    for entry in entries:
        row = rows.get(entry.get("seq"))
        if row is None:
            result.problems.append(f"audit entry {entry.get('seq')} ({entry.get('action')}): missing from the trail.")
            continue
        stored = dict(zip(HASHED_FIELDS, row[:-1]))
        differing = [name for name in HASHED_FIELDS if _differs(name, entry.get(name), stored[name])]
        if differing or row[-1] != entry.get("hash") or content_hash(row[:-1]) != row[-1]:
            what = ", ".join(differing) if differing else "its hash"
            result.problems.append(
                f"audit entry {entry['seq']} ({entry.get('action')}): differs from the trail ({what})."
            )
    head = rows.get(anchor.get("seq"))
    if anchor.get("seq"):
        if head is None:
            result.problems.append(f"chain head: entry {anchor.get('seq')} is missing from the trail.")
        elif head[-1] != anchor.get("hash") or content_hash(head[:-1]) != head[-1]:
            result.problems.append(f"chain head: entry {anchor.get('seq')} of the trail does not have the hash recorded.")
    if not result.problems:
        result.notes.append(f"Checked {len(entries)} audit entries and the chain head against the trail.")


def _differs(name: str, in_pack, in_trail) -> bool:
    if name == "at":
        from governance.audit.hashing import canonical_time

        return in_pack != canonical_time(in_trail)
    return in_pack != in_trail
