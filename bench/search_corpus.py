"""The generated corpus of ``bench_search.py speed N`` (issue 19): realistic tool files in
category folders, with query terms picked by document frequency, deterministic for a seed."""

from __future__ import annotations

import random
import re
from pathlib import Path

import yaml


def tool_yaml(description: str, params: dict[str, str]) -> str:
    props = {name: {"type": "string", "description": desc} for name, desc in params.items()}
    doc = {
        "version": "1.0.0",
        "executor_id": "runtimes/python",
        "description": description,
        "parameters": {"type": "object", "properties": props},
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


VERBS = [
    "get",
    "list",
    "create",
    "update",
    "delete",
    "send",
    "fetch",
    "search",
    "find",
    "convert",
    "calculate",
    "parse",
    "validate",
    "upload",
    "download",
    "sync",
    "schedule",
    "cancel",
    "archive",
    "export",
    "import",
    "merge",
    "translate",
    "summarize",
    "resize",
    "compress",
    "encrypt",
    "decrypt",
    "monitor",
    "notify",
    "approve",
    "reject",
    "assign",
    "tag",
    "rename",
]
NOUNS = [
    "email",
    "invoice",
    "weather",
    "user",
    "file",
    "repository",
    "issue",
    "calendar",
    "event",
    "message",
    "order",
    "payment",
    "customer",
    "ticket",
    "report",
    "image",
    "video",
    "document",
    "spreadsheet",
    "contact",
    "task",
    "project",
    "branch",
    "commit",
    "deployment",
    "container",
    "database",
    "table",
    "record",
    "backup",
    "certificate",
    "domain",
    "webhook",
    "subscription",
    "refund",
    "product",
    "inventory",
    "shipment",
    "playlist",
    "song",
    "recipe",
    "flight",
    "hotel",
    "booking",
    "stock",
    "price",
    "currency",
    "translation",
    "transcript",
    "meeting",
    "note",
    "reminder",
    "alarm",
]
DOMAINS = [
    "github",
    "gitlab",
    "slack",
    "discord",
    "stripe",
    "paypal",
    "aws",
    "gcp",
    "azure",
    "jira",
    "notion",
    "trello",
    "gmail",
    "outlook",
    "dropbox",
    "drive",
    "spotify",
    "youtube",
    "twitter",
    "shopify",
    "salesforce",
    "hubspot",
    "zendesk",
    "twilio",
    "sendgrid",
    "postgres",
    "mysql",
    "redis",
    "docker",
    "kubernetes",
    "openweather",
    "calendar",
    "maps",
]
FILLER = [
    "the",
    "a",
    "an",
    "to",
    "of",
    "for",
    "with",
    "in",
    "on",
    "by",
    "from",
    "and",
    "or",
    "using",
    "via",
    "that",
    "this",
    "its",
    "your",
    "returns",
    "optional",
    "required",
    "given",
    "specified",
    "current",
    "new",
    "all",
    "each",
    "one",
]
PHRASES = (
    "using the {d} API",
    "for the given {n}",
    "and returns the result as JSON",
    "with optional filters",
    "by id or name",
    "in the {d} account of the user",
    "from a URL or a local path",
    "within a date range",
    "and notifies the owner",
    "with pagination and sorting",
)


def tail_word(rng: random.Random, tail: list[str]) -> str:
    # Zipf-like over a shuffled synthetic tail: a few frequent, most rare
    return tail[min(len(tail) - 1, int(rng.paretovariate(1.07)) - 1)]


def generate(folder: Path, count: int, seed: int = 19) -> dict[str, list[str]]:
    """Write ``count`` tool files under ``folder/.ai/tools``; return query terms per class."""
    rng = random.Random(seed)
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "ta",
        "vo",
        "zi",
        "be",
        "do",
        "fa",
        "gu",
        "he",
        "ji",
        "ko",
        "pu",
        "qi",
        "sa",
        "ti",
        "wu",
        "xe",
        "yo",
    ]
    tail = sorted({"".join(rng.choice(syllables) for _ in range(4)) for _ in range(60000)})
    rng.shuffle(tail)
    df: dict[str, int] = {}
    tools = folder / ".ai/tools"
    for domain in DOMAINS:
        (tools / domain).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        d, v, n = rng.choice(DOMAINS), rng.choice(VERBS), rng.choice(NOUNS)
        words = [v.capitalize(), rng.choice(("a", "the", "one", "each")), n]
        for _ in range(rng.randint(1, 4)):
            words.append(rng.choice(PHRASES).format(d=d, n=rng.choice(NOUNS)))
        for _ in range(rng.randint(2, 6)):
            words.append(rng.choice(FILLER) if rng.random() < 0.5 else tail_word(rng, tail))
        description = " ".join(words) + "."
        params = {f"{n}_id": f"the {n} to {v}", "limit": "how many to return"}
        if rng.random() < 0.5:
            params[tail_word(rng, tail)] = f"an optional {rng.choice(NOUNS)} filter"
        name = f"{v}_{n}_{i}"
        (tools / d / f"{name}.yaml").write_text(tool_yaml(description, params))
        text = f"{d} {name} {description} {' '.join(params)} {' '.join(params.values())}"
        for w in set(re.findall(r"[a-z0-9]+", text.lower())):
            df[w] = df.get(w, 0) + 1
    by_df = sorted(df.items(), key=lambda t: t[1])
    rare = [w for w, c in by_df if 0.00002 * count <= c <= max(2, 0.0001 * count)]
    common = [w for w, c in by_df if 0.05 * count <= c <= 0.5 * count]
    very = [w for w, c in by_df if c >= 0.3 * count]
    return {"rare": rare or [by_df[0][0]], "common": common, "very_common": very}


def queries_for(terms: dict[str, list[str]], n: int = 200) -> dict[str, list[str]]:
    rng = random.Random(7)
    out = {
        "rare": [rng.choice(terms["rare"]) for _ in range(n)],
        "common": [rng.choice(terms["common"]) for _ in range(n)],
        "very_common": [rng.choice(terms["very_common"]) for _ in range(n)],
        "intent_1": [rng.choice(NOUNS) for _ in range(n)],
        "intent_4": [
            f"{rng.choice(VERBS)} {rng.choice(NOUNS)} {rng.choice(DOMAINS)} {rng.choice(NOUNS)}"
            for _ in range(n)
        ],
    }
    out["filtered"] = list(out["intent_4"])
    return out
