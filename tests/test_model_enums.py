"""The model's enums of kinds, stages and statuses: the JSON schema allows what they hold,
and a result made of their members is the same report as one made of their strings."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import orjson

from gplscan.model import BinaryKind, EdgeKind, EvidenceKind, LicenseStatus, ScanResult, Stage
from gplscan.report import json as json_report
from tests.golden_result import hand_built

SCHEMA = json.loads(
    (Path(__file__).resolve().parent.parent / "gplscan/report/gplscan-1.schema.json").read_text()
)


def test_the_schema_allows_every_member_and_nothing_else() -> None:
    binary = SCHEMA["properties"]["binaries"]["items"]["properties"]
    finding = SCHEMA["properties"]["findings"]["items"]["properties"]
    evidence = finding["evidence"]["items"]["properties"]
    issue = SCHEMA["properties"]["issues"]["items"]["properties"]
    assert set(binary["kind"]["enum"]) == set(BinaryKind)
    assert set(evidence["kind"]["enum"]) == set(EvidenceKind)
    assert set(issue["stage"]["enum"]) == set(Stage)


def _as_members(result: ScanResult) -> ScanResult:
    """``result`` with its kinds, stages and statuses made members, as a scan makes them."""
    return dataclasses.replace(
        result,
        binaries=tuple(dataclasses.replace(b, kind=BinaryKind(b.kind)) for b in result.binaries),
        edges=tuple(dataclasses.replace(e, kind=EdgeKind(e.kind)) for e in result.edges),
        issues=tuple(dataclasses.replace(i, stage=Stage(i.stage)) for i in result.issues),
        inventory=tuple(
            dataclasses.replace(f, status=LicenseStatus(f.status)) for f in result.inventory
        ),
    )


def test_members_write_the_same_json_with_orjson() -> None:
    plain = hand_built()
    members = _as_members(plain)
    assert members.inventory and all(type(f.status) is LicenseStatus for f in members.inventory)
    # orjson takes no str subclass as a key: the reporter gives it plain strings (a
    # TypeError would make it fall back to the standard library, slower and ASCII-escaped)
    orjson.dumps(json_report.as_dict(members), option=orjson.OPT_INDENT_2)
    assert json_report.render(members) == json_report.render(plain)
