"""Staff changes through the till's service against a real device store: each rule, each
`staff` record (one per change, in the chain), and no PIN or PIN hash in any record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from store_helpers import open_device

from appliance.core.staff import staff_id_for
from appliance.services.access import AccessService, Deactivated, NotAuthorized
from appliance.services.staff import CLI, LastManager, PinTaken, StaffError, StaffService
from appliance.store import journal
from appliance.store import staff as staff_store
from appliance.store.staff import Staff
from bitagora_devtools.seed import seed_demo
from bitagora_protocol.journal import Record, canonical_json

ANA = Staff("ana", "Ana", "cashier")  # demo staff: Ana 1234 (cashier), Marco 9999 (manager)
MARCO = Staff("marco", "Marco", "manager")


@pytest.fixture
async def till(tmp_path: Path) -> AsyncIterator[tuple[AccessService, StaffService]]:
    conn, identity = await open_device(tmp_path / "device")
    try:
        await seed_demo(conn, "EUR")
        access = AccessService(conn, identity)
        yield access, StaffService(conn, identity, access)
    finally:
        await conn.close()


async def staff_records(service: StaffService) -> list[Record]:
    return [r async for r in journal.iterate(service.conn) if r.kind == "staff"]


async def pin_hashes(service: StaffService) -> list[str]:
    rows = await service.conn.execute_fetchall("SELECT pin_hash FROM staff")
    return [str(row[0]) for row in rows]


def test_ids_are_made_from_names_and_never_given_twice() -> None:
    assert staff_id_for("Ana María", set()) == "ana-maria"
    assert staff_id_for("Ana María", {"ana-maria", "ana-maria-2"}) == "ana-maria-3"
    assert staff_id_for("  ¡¿!? ", set()) == "staff"
    assert staff_id_for("Jean-Luc O'Neil", set()) == "jean-luc-o-neil"


async def test_each_change_is_one_record_naming_who_did_it(
    till: tuple[AccessService, StaffService],
) -> None:
    access, service = till
    added = await service.add("Bea Núñez", "cashier", "5678", MARCO)
    assert added.staff == Staff("bea-nunez", "Bea Núñez", "cashier", True)
    assert await access.unlock("5678") == added.staff
    changes = [
        added,
        await service.set_pin("bea-nunez", "5679", MARCO),
        await service.deactivate("bea-nunez", MARCO),
        await service.reactivate("bea-nunez", "4455", CLI),
        await service.put("bea-nunez", "Bea N.", "manager", "4456", CLI),
    ]
    assert changes[2].staff.active is False

    records = await staff_records(service)
    assert records == [change.record for change in changes]
    assert [r.body for r in records] == [
        {
            "action": "added",
            "staff": {"id": "bea-nunez", "name": "Bea Núñez", "role": "cashier", "active": True},
            "by": {"id": "marco", "name": "Marco"},
        },
        {
            "action": "pin_set",
            "staff": {"id": "bea-nunez", "name": "Bea Núñez", "role": "cashier", "active": True},
            "by": {"id": "marco", "name": "Marco"},
        },
        {
            "action": "deactivated",
            "staff": {"id": "bea-nunez", "name": "Bea Núñez", "role": "cashier", "active": False},
            "by": {"id": "marco", "name": "Marco"},
        },
        {
            "action": "reactivated",
            "staff": {"id": "bea-nunez", "name": "Bea Núñez", "role": "cashier", "active": True},
            "by": {"via": "cli"},
        },
        {
            "action": "changed",
            "staff": {"id": "bea-nunez", "name": "Bea N.", "role": "manager", "active": True},
            "by": {"via": "cli"},
            "previous": {"name": "Bea Núñez", "role": "cashier"},
        },
    ]
    # The PINs typed and the hashes stored are in no record, in any form. A PIN's four digits
    # are looked for in what a record says (its body), not in its hex hashes and signature,
    # where any four digits turn up by chance in about one chain in forty.
    chain = b"".join([canonical_json(r.to_dict()) async for r in journal.iterate(service.conn)])
    said = b"".join([canonical_json(r.body) async for r in journal.iterate(service.conn)])
    for pin in ["5678", "5679", "4455", "4456"]:
        assert pin.encode() not in said, pin
    for secret in await pin_hashes(service):
        assert secret.encode() not in chain, secret
    for pin_hash in await pin_hashes(service):
        assert pin_hash.split("$")[-1].encode() not in chain  # not even the digest alone


async def test_a_deactivated_person_unlocks_nothing_and_is_not_counted(
    till: tuple[AccessService, StaffService],
) -> None:
    access, service = till
    await service.deactivate("ana", MARCO)
    for _ in range(6):  # more than a lockout's worth: none of them counts
        with pytest.raises(Deactivated, match="Ana has been deactivated"):
            await access.unlock("1234")
    with pytest.raises(Deactivated):
        await access.unlock_badge("04A224B2C35E80")
    assert await access.lockout_remaining() == await access.lockout_remaining(ANA)
    assert not (await access.lockout_remaining())
    with pytest.raises(Deactivated):  # logged in before: selling stops at once
        await access.authorize_sale(ANA)
    # History stays: the row, the badge; and the PIN is free for somebody active.
    people = {s.id: (s, badges) for s, badges in await service.people()}
    assert people["ana"] == (Staff("ana", "Ana", "cashier", False), ["04A224B2C35E80"])
    new = await service.add("Cy", "cashier", "1234", MARCO)
    assert await access.unlock("1234") == new.staff  # the active holder comes first
    # Ana's old PIN is Cy's now: she comes back with a new one.
    with pytest.raises(PinTaken):
        await service.reactivate("ana", "1234", MARCO)
    await service.reactivate("ana", "2468", MARCO)
    assert await access.unlock("2468") == Staff("ana", "Ana", "cashier", True)


async def test_the_rules(till: tuple[AccessService, StaffService]) -> None:
    access, service = till
    with pytest.raises(PinTaken):
        await service.add("Dee", "cashier", "9999", MARCO)  # Marco's PIN
    with pytest.raises(PinTaken):
        await service.set_pin("ana", "9999", MARCO)
    with pytest.raises(NotAuthorized, match="a manager must add staff"):
        await service.add("Dee", "cashier", "5555", ANA)
    with pytest.raises(NotAuthorized):
        await service.deactivate("marco", ANA)
    with pytest.raises(NotAuthorized):
        await service.add("Dee", "cashier", "5555", Staff("teo", "Teo", "technician"))
    with pytest.raises(StaffError, match="deactivates themselves"):
        await service.deactivate("marco", MARCO)
    with pytest.raises(LastManager, match="last active manager"):
        await service.deactivate("marco", CLI)
    with pytest.raises(LastManager):
        await service.put("marco", "Marco", "cashier", "9999", CLI)  # no manager either
    with pytest.raises(StaffError, match="already a staff member 'ana'"):
        await service.add("Ana", "cashier", "5555", CLI, staff_id="ana")
    with pytest.raises(ValueError, match="4 to 8 digits"):
        await service.add("Dee", "cashier", "12", MARCO)
    with pytest.raises(StaffError, match="type the person's name"):
        await service.add("   ", "cashier", "5555", MARCO)
    with pytest.raises(StaffError, match="no staff member 'nobody'"):
        await service.set_pin("nobody", "5555", MARCO)

    # A second manager: now either may go, but not both.
    await service.add("Eva", "manager", "7777", MARCO)
    await service.deactivate("marco", Staff("eva", "Eva", "manager"))
    with pytest.raises(Deactivated):  # a deactivated manager approves nothing
        await access.approver("9999", "no_sale", ANA)
    with pytest.raises(Deactivated):  # nor manages staff, though still logged in
        await service.add("Fay", "cashier", "5555", MARCO)
    with pytest.raises(LastManager):
        await service.deactivate("eva", CLI)
    with pytest.raises(StaffError, match="already deactivated"):
        await service.deactivate("marco", CLI)
    with pytest.raises(StaffError, match="reactivate them"):
        await service.set_pin("marco", "5555", CLI)
    with pytest.raises(StaffError, match="active already"):
        await service.reactivate("ana", "5555", CLI)
    # Nothing refused was written.
    assert [r.body["action"] for r in await staff_records(service)] == ["added", "deactivated"]


async def test_the_store_keeps_the_flag_across_a_reopen(tmp_path: Path) -> None:
    conn, identity = await open_device(tmp_path / "device")
    await seed_demo(conn, "EUR")
    await StaffService(conn, identity, AccessService(conn, identity)).deactivate("ana", CLI)
    await conn.close()
    conn, _ = await open_device(tmp_path / "device")
    try:
        assert await staff_store.get(conn, "ana") == Staff("ana", "Ana", "cashier", False)
    finally:
        await conn.close()
