"""The seed's bronze tables as demo data: customers (parquet), web sessions (parquet), support tickets (csv).

Written with numpy/pyarrow, no Spark, deterministic for a seed. The data is shaped to exercise the
customer-360 contract the way production data would: activity is skewed (a few customers have most
sessions, many have none), sessions carry duplicates, orphan and anonymous customer ids and missing page
views, tickets have missing satisfaction scores. Customers stay unique, with a few missing or malformed
emails well under the example's 1 % thresholds.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

DEFAULT_ROOT = Path("/var/lib/datamesh/lake")
#: scale 1.0 = the seed benchmark's volume.
BASE_CUSTOMERS = 1_000_000
BASE_SESSIONS = 5_000_000
BASE_TICKETS = 500_000
#: Fixed "now" so the same seed gives byte-identical files on any day.
EPOCH_END = datetime(2026, 1, 1, tzinfo=UTC)
_US_PER_DAY = 86_400_000_000

CUSTOMERS_DIR = "sales/bronze/crm/customers"
SESSIONS_DIR = "marketing/bronze/web/sessions"
TICKETS_DIR = "customer-success/bronze/support/tickets"

EMAIL_NULL_RATE = 0.003
EMAIL_MALFORMED_RATE = 0.002
NAME_NULL_RATE = 0.002
SESSION_DUPLICATE_RATE = 0.01
SESSION_ORPHAN_RATE = 0.005
SESSION_ANONYMOUS_RATE = 0.02
PAGE_VIEWS_NULL_RATE = 0.01
SATISFACTION_NULL_RATE = 0.3
#: Share of customers that never show up in sessions; the rest are drawn Zipf-like.
INACTIVE_SHARE = 0.25
HEAVY_SHARE = 0.2


@dataclass(frozen=True)
class DemoSizes:
    customers: int
    sessions: int
    tickets: int

    @classmethod
    def for_scale(cls, scale: float) -> DemoSizes:
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        return cls(
            customers=max(10, round(BASE_CUSTOMERS * scale)),
            sessions=max(20, round(BASE_SESSIONS * scale)),
            tickets=max(5, round(BASE_TICKETS * scale)),
        )


@dataclass(frozen=True)
class DemoTables:
    customers: pa.Table
    sessions: pa.Table
    tickets: pa.Table


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    width = max(7, len(str(int(numbers.max(initial=0)))))
    return pa.array(np.char.add(prefix, np.char.zfill(numbers.astype(str), width)).tolist(), pa.string())


def _timestamps(rng: np.random.Generator, n: int, days_back: float) -> pa.Array:
    end = int(EPOCH_END.timestamp() * 1_000_000)
    offsets = (rng.random(n) * days_back * _US_PER_DAY).astype(np.int64)
    return pa.array(end - offsets, pa.timestamp("us", tz="UTC"))


def _null_mask(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    return rng.random(n) < rate


def _activity_owner(rng: np.random.Generator, n: int, customers: int) -> np.ndarray:
    """Customer index per activity row, heavily skewed, with INACTIVE_SHARE customers never drawn."""
    active = max(1, int(customers * (1 - INACTIVE_SHARE)))
    # A permutation so activity is not correlated with id order (ids sort like signup order).
    active_ids = rng.permutation(customers)[:active]
    # Most activity is spread over the active customers; a Zipf-drawn share piles onto a few heavy users.
    ranks = rng.zipf(1.3, n) - 1
    heavy = rng.random(n) < HEAVY_SHARE
    index = np.where(heavy, ranks % active, rng.integers(0, active, n))
    return active_ids[index]


def generate(scale: float = 1.0, seed: int = 42) -> DemoTables:
    """The three bronze tables at `scale` (1.0 = 1M customers / 5M sessions / 500k tickets)."""
    sizes = DemoSizes.for_scale(scale)
    rng = np.random.default_rng(seed)
    return DemoTables(
        customers=_customers(rng, sizes.customers),
        sessions=_sessions(rng, sizes.sessions, sizes.customers),
        tickets=_tickets(rng, sizes.tickets, sizes.customers),
    )


def _customers(rng: np.random.Generator, n: int) -> pa.Table:
    numbers = np.arange(1, n + 1)
    ids = _ids("C", numbers)
    first = np.array(["ana", "ben", "chloe", "david", "emma", "farid", "grace", "hugo", "ines", "jonas", "kim", "lea"])
    last = np.array(["smith", "muller", "garcia", "rossi", "novak", "silva", "kowalski", "jensen", "dubois", "tanaka"])
    f = first[rng.integers(0, len(first), n)]
    g = last[rng.integers(0, len(last), n)]
    local = np.char.add(np.char.add(np.char.add(f, "."), g), numbers.astype(str))
    domains = np.array(["example.com", "mail.example.org", "corp.example.net"])[rng.integers(0, 3, n)]
    emails = np.char.add(np.char.add(local, "@"), domains).astype(object)
    malformed = _null_mask(rng, n, EMAIL_MALFORMED_RATE)
    emails[malformed] = np.char.add(local[malformed], " at example.com")
    emails[_null_mask(rng, n, EMAIL_NULL_RATE)] = None
    names = np.char.add(np.char.add(np.char.capitalize(f), " "), np.char.capitalize(g)).astype(object)
    names[_null_mask(rng, n, NAME_NULL_RATE)] = None
    # Lifetime value is long-tailed: most customers spend little, a few spend a lot.
    ltv = np.round(rng.lognormal(5.0, 1.2, n), 2)
    return pa.table(
        {
            "customer_id": ids,
            "email": pa.array(emails.tolist(), pa.string()),
            "name": pa.array(names.tolist(), pa.string()),
            "created_at": _timestamps(rng, n, 5 * 365),
            "lifetime_value": pa.array(ltv, pa.float64()),
        }
    )


def _sessions(rng: np.random.Generator, n: int, customers: int) -> pa.Table:
    duplicates = int(n * SESSION_DUPLICATE_RATE)
    unique = n - duplicates
    owner = _activity_owner(rng, unique, customers) + 1
    customer_ids = np.char.add("C", np.char.zfill(owner.astype(str), max(7, len(str(customers))))).astype(object)
    orphan = _null_mask(rng, unique, SESSION_ORPHAN_RATE)
    customer_ids[orphan] = np.char.add("X", rng.integers(0, 10**7, int(orphan.sum())).astype(str))
    customer_ids[_null_mask(rng, unique, SESSION_ANONYMOUS_RATE)] = None
    page_views = rng.geometric(0.2, unique).astype(np.int64)
    views_null = _null_mask(rng, unique, PAGE_VIEWS_NULL_RATE)
    table = pa.table(
        {
            "customer_id": pa.array(customer_ids.tolist(), pa.string()),
            "session_id": _ids("S", np.arange(1, unique + 1)),
            "session_timestamp": _timestamps(rng, unique, 365),
            "page_views": pa.array(page_views, pa.int64(), mask=views_null),
        }
    )
    # The collector re-delivers some sessions: exact duplicate rows, which a count(*) per customer counts.
    again = rng.integers(0, unique, duplicates)
    return pa.concat_tables([table, table.take(pa.array(again))])


def _tickets(rng: np.random.Generator, n: int, customers: int) -> pa.Table:
    owner = _activity_owner(rng, n, customers) + 1
    score = rng.choice(np.arange(1, 6), n, p=[0.08, 0.12, 0.2, 0.3, 0.3]).astype(np.int64)
    return pa.table(
        {
            "customer_id": pa.array(
                np.char.add("C", np.char.zfill(owner.astype(str), max(7, len(str(customers))))).tolist(), pa.string()
            ),
            "ticket_id": _ids("T", np.arange(1, n + 1)),
            "opened_at": _timestamps(rng, n, 2 * 365),
            "satisfaction_score": pa.array(score, pa.int64(), mask=_null_mask(rng, n, SATISFACTION_NULL_RATE)),
        }
    )


def _fresh_dir(path: Path) -> Path:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def _write_parquet(table: pa.Table, folder: Path, files: int) -> None:
    _fresh_dir(folder)
    step = max(1, -(-table.num_rows // files))
    for index, start in enumerate(range(0, table.num_rows, step)):
        pq.write_table(table.slice(start, step), folder / f"part-{index:05d}.parquet", row_group_size=512 * 1024)


def write(root: str | Path = DEFAULT_ROOT, scale: float = 1.0, seed: int = 42) -> dict[str, Path]:
    """Write the bronze tables below `root` where the example Domains expect them; returns table -> folder."""
    base = Path(root)
    tables = generate(scale, seed)
    out = {
        "bronze.crm.customers": base / CUSTOMERS_DIR,
        "bronze.web.sessions": base / SESSIONS_DIR,
        "bronze.support.tickets": base / TICKETS_DIR,
    }
    _write_parquet(tables.customers, out["bronze.crm.customers"], files=max(1, tables.customers.num_rows // 500_000))
    _write_parquet(tables.sessions, out["bronze.web.sessions"], files=max(1, tables.sessions.num_rows // 1_000_000))
    folder = _fresh_dir(out["bronze.support.tickets"])
    options = pacsv.WriteOptions(include_header=True)
    # An ISO timestamp without zone suffix is what CRM exports look like and what Spark's csv inference reads.
    tickets = tables.tickets.set_column(
        2, "opened_at", tables.tickets.column("opened_at").cast(pa.timestamp("us")).cast(pa.string())
    )
    pacsv.write_csv(tickets, folder / "part-00000.csv", write_options=options)
    return out
