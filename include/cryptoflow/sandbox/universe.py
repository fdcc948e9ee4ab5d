"""The sandbox's fixed universe: coins, prices, supplies, volumes, exchanges, DEX pairs, sentiment.

Everything is a pure function of the universe seed and a time, computed on demand:

- **Coins** (620 by default; the setting ``coins`` makes more, e.g. 10,000 for scale runs): 30 real
  ones at the top (real CoinGecko ids and CMC ids) and generated ones below,
  each with a stable CoinGecko id, CMC id and slug, symbol, names on both sides, a base rank, platform
  contracts, listing date and (for a few) a delisting date. Some symbols are shared by several coins,
  a few coins exist on only one of the two APIs, CoinGecko and CMC names and slugs differ for some, and
  CMC spells EVM contract addresses in mixed case where CoinGecko uses lower case - so mapping CMC ids
  to CoinGecko ids needs symbol + name + contract, as in real life.
- **Prices**: a seeded random walk per coin with 5-minute resolution since 2013-04-28. Daily anchors
  come from a dyadic Brownian bridge (any day in O(log days) hashes, memoised in a bounded dict); the
  288 five-minute steps of a day are a Brownian bridge between two anchors drawn from a per-(coin, day)
  generator and kept in a bounded LRU. Nothing grows with the history asked for, so memory stays flat.
  A price between two 5-minute points is the linear interpolation of the two.
- **CMC** quotes are the CoinGecko price times ``1 + spread`` with ``|spread| <= 0.5 %`` (deterministic
  per coin and 5 minutes); CMC supplies differ from CoinGecko's by a fixed factor within +-2 %; CMC
  volumes within +-5 %. DEX pair prices are the base token's price within +-0.6 %.
- **Sentiment and totals**: fear-and-greed follows BTC's 7-day return; the whole-market cap is BTC's
  cap divided by a slowly varying BTC dominance (45-60 %).

:func:`Universe.default` is the instance the server uses; tests use the same to compute the exact
records an endpoint serves (see :mod:`cryptoflow.sandbox.render`).
"""

from __future__ import annotations

import math
import random
import re
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

from cryptoflow.sandbox import rand
from cryptoflow.sandbox.timefmt import DAY, HOUR, parse_time

DEFAULT_SEED = 20_240_101
EPOCH = 1_367_107_200  # 2013-04-28T00:00:00Z: the first day any coin has data
TREE_DAYS = 8192  # the bridge spans 2013-04-28 .. 2035-09; later times are clamped
STEP = 300  # five minutes
STEPS = DAY // STEP  # 288
T_REF = 1_735_689_600  # 2025-01-01: the base prices below hold around this date
YEAR = 365.25 * DAY
_SQRT12 = math.sqrt(12.0)

# CoinGecko platform id -> (CMC platform coin id, name, symbol, slug, DEX network id, EVM?)
PLATFORMS: dict[str, tuple[int, str, str, str, str, bool]] = {
    "ethereum": (1027, "Ethereum", "ETH", "ethereum", "1", True),
    "binance-smart-chain": (1839, "BNB Smart Chain (BEP20)", "BNB", "bnb", "14", True),
    "solana": (5426, "Solana", "SOL", "solana", "16", False),
    "polygon-pos": (28321, "Polygon", "POL", "polygon-ecosystem-token", "25", True),
    "arbitrum-one": (11841, "Arbitrum", "ARB", "arbitrum", "51", True),
    "base": (27716, "Base", "BASE", "base", "199", True),
}


@dataclass
class Coin:
    """One asset, as both APIs know it (``on_cg``/``on_cmc`` say where it is listed)."""

    idx: int
    cg_id: str
    cmc_id: int
    cmc_slug: str
    symbol: str  # upper case (CMC style); CoinGecko serves it lower-cased
    cg_name: str
    cmc_name: str
    base_rank: int
    kind: str  # "coin", "token" or "stable"
    price0: float  # USD price around T_REF
    supply0: float  # circulating supply around T_REF
    max_supply: float | None
    total_factor: float  # total supply / circulating supply
    listed_at: int  # first data point (UNIX s, 00:00 UTC)
    delisted_at: int | None  # last data point, for inactive coins
    sigma: float  # daily log volatility
    trend: float  # log drift per year
    turnover: float  # daily volume / market cap
    supply_growth: float  # per year
    cmc_supply_factor: float
    platforms: dict[str, str] = field(default_factory=dict)  # CG platform id -> contract (CG spelling)
    on_cg: bool = True
    on_cmc: bool = True
    categories: tuple[str, ...] = ()
    peg: int | None = None  # index of the coin a wrapped token tracks (WBTC -> BTC)

    @property
    def cg_symbol(self) -> str:
        return self.symbol.lower()

    def active_at(self, t: float) -> bool:
        """Listed at ``t`` and not yet delisted."""
        return self.listed_at <= t and (self.delisted_at is None or t <= self.delisted_at)

    @property
    def is_active(self) -> bool:
        return self.delisted_at is None

    def cmc_address(self, platform: str) -> str:
        """CMC's spelling of a contract: EVM addresses in mixed case (not a real EIP-55 checksum)."""
        address = self.platforms[platform]
        if not PLATFORMS[platform][5]:
            return address
        body = address[2:]
        bits = rand.h64(self.cmc_id, 77)
        return "0x" + "".join(
            c.upper() if c.isalpha() and (bits >> (i % 64)) & 1 else c for i, c in enumerate(body)
        )


def _day(text: str) -> int:
    return int(parse_time(text))


# Real coins at the top of the universe: (cg_id, cmc_id, cmc_slug, symbol, cg_name, cmc_name, price, supply,
# max_supply, kind, listed, platforms, sigma, trend)
_ETH = "ethereum"
REAL_COINS = [
    (
        "bitcoin",
        1,
        "bitcoin",
        "BTC",
        "Bitcoin",
        "Bitcoin",
        65_000,
        19.7e6,
        21e6,
        "coin",
        "2013-04-28",
        {},
        0.030,
        0.45,
    ),
    (
        "ethereum",
        1027,
        "ethereum",
        "ETH",
        "Ethereum",
        "Ethereum",
        3_200,
        120.2e6,
        None,
        "coin",
        "2015-08-07",
        {},
        0.038,
        0.35,
    ),
    (
        "tether",
        825,
        "tether",
        "USDT",
        "Tether",
        "Tether USDt",
        1.0,
        110e9,
        None,
        "stable",
        "2015-02-25",
        {_ETH: "0xdac17f958d2ee523a2206206994597c13d831ec7"},
        0.0008,
        0.0,
    ),
    (
        "binancecoin",
        1839,
        "bnb",
        "BNB",
        "BNB",
        "BNB",
        580,
        147e6,
        200e6,
        "coin",
        "2017-07-25",
        {},
        0.032,
        0.4,
    ),
    (
        "solana",
        5426,
        "solana",
        "SOL",
        "Solana",
        "Solana",
        150,
        450e6,
        None,
        "coin",
        "2020-04-10",
        {},
        0.05,
        0.5,
    ),
    ("ripple", 52, "xrp", "XRP", "XRP", "XRP", 0.55, 55e9, 100e9, "coin", "2013-08-04", {}, 0.04, 0.2),
    (
        "usd-coin",
        3408,
        "usd-coin",
        "USDC",
        "USDC",
        "USDC",
        1.0,
        33e9,
        None,
        "stable",
        "2018-10-08",
        {
            _ETH: "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48",
            "solana": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
        },
        0.0008,
        0.0,
    ),
    (
        "dogecoin",
        74,
        "dogecoin",
        "DOGE",
        "Dogecoin",
        "Dogecoin",
        0.15,
        144e9,
        None,
        "coin",
        "2013-12-15",
        {},
        0.055,
        0.3,
    ),
    (
        "cardano",
        2010,
        "cardano",
        "ADA",
        "Cardano",
        "Cardano",
        0.45,
        35e9,
        45e9,
        "coin",
        "2017-10-01",
        {},
        0.045,
        0.2,
    ),
    ("tron", 1958, "tron", "TRX", "TRON", "TRON", 0.12, 87e9, None, "coin", "2017-09-13", {}, 0.04, 0.25),
    (
        "avalanche-2",
        5805,
        "avalanche",
        "AVAX",
        "Avalanche",
        "Avalanche",
        35,
        390e6,
        720e6,
        "coin",
        "2020-07-13",
        {},
        0.055,
        0.2,
    ),
    (
        "shiba-inu",
        5994,
        "shiba-inu",
        "SHIB",
        "Shiba Inu",
        "Shiba Inu",
        0.000022,
        589e12,
        None,
        "token",
        "2020-08-01",
        {_ETH: "0x95ad61b0a150d79219dcf64e1e6cc01f0b64c4ce"},
        0.06,
        0.3,
    ),
    (
        "chainlink",
        1975,
        "chainlink",
        "LINK",
        "Chainlink",
        "Chainlink",
        15,
        587e6,
        1e9,
        "token",
        "2017-09-20",
        {_ETH: "0x514910771af9ca656af840dff83e8264ecf986ca"},
        0.05,
        0.25,
    ),
    (
        "polkadot",
        6636,
        "polkadot-new",
        "DOT",
        "Polkadot",
        "Polkadot",
        7,
        1.4e9,
        None,
        "coin",
        "2020-08-19",
        {},
        0.05,
        0.1,
    ),
    (
        "wrapped-bitcoin",
        3717,
        "wrapped-bitcoin",
        "WBTC",
        "Wrapped Bitcoin",
        "Wrapped Bitcoin",
        65_000,
        155_000,
        None,
        "token",
        "2019-01-30",
        {_ETH: "0x2260fac5e5542a773aa44fbcfedf7c193bc2c599"},
        0.030,
        0.45,
    ),
    (
        "bitcoin-cash",
        1831,
        "bitcoin-cash",
        "BCH",
        "Bitcoin Cash",
        "Bitcoin Cash",
        450,
        19.6e6,
        21e6,
        "coin",
        "2017-07-23",
        {},
        0.045,
        0.15,
    ),
    (
        "near",
        6535,
        "near-protocol",
        "NEAR",
        "NEAR Protocol",
        "NEAR Protocol",
        6,
        1.06e9,
        None,
        "coin",
        "2020-10-14",
        {},
        0.055,
        0.25,
    ),
    (
        "litecoin",
        2,
        "litecoin",
        "LTC",
        "Litecoin",
        "Litecoin",
        80,
        74e6,
        84e6,
        "coin",
        "2013-04-28",
        {},
        0.04,
        0.15,
    ),
    (
        "polygon-ecosystem-token",
        28321,
        "polygon-ecosystem-token",
        "POL",
        "POL (ex-MATIC)",
        "POL (prev. MATIC)",
        0.7,
        9.3e9,
        None,
        "token",
        "2019-04-28",
        {_ETH: "0x455e53cbb86018ac2b8092fdcd39d8444affc3f6"},
        0.05,
        0.2,
    ),
    (
        "uniswap",
        7083,
        "uniswap",
        "UNI",
        "Uniswap",
        "Uniswap",
        7.5,
        600e6,
        1e9,
        "token",
        "2020-09-17",
        {_ETH: "0x1f9840a85d5af5bf1d1762f925bdaddc4201f984"},
        0.055,
        0.2,
    ),
    (
        "dai",
        4943,
        "multi-collateral-dai",
        "DAI",
        "Dai",
        "Dai",
        1.0,
        5.3e9,
        None,
        "stable",
        "2019-11-22",
        {_ETH: "0x6b175474e89094c44da98b954eedeac495271d0f"},
        0.0008,
        0.0,
    ),
    (
        "weth",
        2396,
        "weth",
        "WETH",
        "WETH",
        "WETH",
        3_200,
        3.0e6,
        None,
        "token",
        "2018-01-01",
        {_ETH: "0xc02aaa39b223fe8d0a0e5c4f27ead9083c756cc2"},
        0.038,
        0.35,
    ),
    (
        "stellar",
        512,
        "stellar",
        "XLM",
        "Stellar",
        "Stellar",
        0.11,
        29e9,
        50e9,
        "coin",
        "2014-08-05",
        {},
        0.045,
        0.1,
    ),
    (
        "internet-computer",
        8916,
        "internet-computer",
        "ICP",
        "Internet Computer",
        "Internet Computer",
        12,
        460e6,
        None,
        "coin",
        "2021-05-10",
        {},
        0.06,
        0.0,
    ),
    (
        "ethereum-classic",
        1321,
        "ethereum-classic",
        "ETC",
        "Ethereum Classic",
        "Ethereum Classic",
        27,
        147e6,
        210.7e6,
        "coin",
        "2016-07-24",
        {},
        0.05,
        0.1,
    ),
    ("aptos", 21794, "aptos", "APT", "Aptos", "Aptos", 9, 400e6, None, "coin", "2022-10-12", {}, 0.06, 0.1),
    (
        "cosmos",
        3794,
        "cosmos",
        "ATOM",
        "Cosmos Hub",
        "Cosmos",
        8,
        390e6,
        None,
        "coin",
        "2019-03-14",
        {},
        0.055,
        0.1,
    ),
    (
        "arbitrum",
        11841,
        "arbitrum",
        "ARB",
        "Arbitrum",
        "Arbitrum",
        1.0,
        2.6e9,
        10e9,
        "token",
        "2023-03-23",
        {_ETH: "0xb50721bcf8d664c30412cfbc6cf7a15145234ad1"},
        0.06,
        0.0,
    ),
    (
        "pepe",
        24478,
        "pepe",
        "PEPE",
        "Pepe",
        "Pepe",
        0.000008,
        420e12,
        420.69e12,
        "token",
        "2023-04-17",
        {_ETH: "0x6982508145454ce325ddbe47a25d4ec3d2311933"},
        0.08,
        0.5,
    ),
    (
        "the-open-network",
        11419,
        "toncoin",
        "TON",
        "Toncoin",
        "Toncoin",
        5.5,
        3.5e9,
        None,
        "coin",
        "2021-08-26",
        {},
        0.05,
        0.3,
    ),
]

_SYL = (
    "ka",
    "zor",
    "lu",
    "mi",
    "nex",
    "ra",
    "vo",
    "tel",
    "qui",
    "san",
    "dra",
    "fi",
    "xo",
    "bel",
    "cor",
    "ta",
    "vin",
    "or",
    "pha",
    "lyn",
    "mos",
    "ze",
    "gra",
    "thi",
    "um",
    "ven",
    "sol",
    "ari",
    "don",
    "ky",
    "bre",
    "ist",
)
_SUFFIX = (
    "",
    "",
    "",
    "",
    " Protocol",
    " Network",
    " Finance",
    " Token",
    " Chain",
    " AI",
    " Swap",
    " DAO",
    " Labs",
    " Coin",
)
_CATEGORIES = (
    "Layer 1 (L1)",
    "Decentralized Finance (DeFi)",
    "Meme",
    "Gaming (GameFi)",
    "Artificial Intelligence (AI)",
    "Layer 2 (L2)",
    "Real World Assets (RWA)",
    "Decentralized Exchange (DEX)",
    "Infrastructure",
    "Stablecoins",
)
N_COINS = 620
# Generated coins that take a symbol already in use: ambiguous symbols, as on the real APIs.
_SHARED_SYMBOL = {
    47: "TON",
    83: "APT",
    120: 40,
    160: 61,
    201: 90,
    233: 120,
    260: 33,
    301: 150,
    344: 201,
    377: 38,
    410: 250,
    455: 300,
    490: 44,
    533: 400,
    577: 52,
}


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _address(platform: str, *parts: int) -> str:
    if PLATFORMS[platform][5]:
        return "0x" + rand.hex_string(40, *parts)
    return rand.base58_string(44, *parts)


def _build_coins(seed: int, n_coins: int = N_COINS) -> list[Coin]:
    if n_coins < len(REAL_COINS):
        raise ValueError(f"the sandbox universe needs at least its {len(REAL_COINS)} real coins, "
                         f"not {n_coins}")
    coins: list[Coin] = []
    used_cg: set[str] = set()
    for idx, row in enumerate(REAL_COINS):
        (
            cg_id,
            cmc_id,
            cmc_slug,
            symbol,
            cg_name,
            cmc_name,
            price,
            supply,
            max_supply,
            kind,
            listed,
            platforms,
            sigma,
            trend,
        ) = row
        turnover = 0.3 if kind == "stable" else 0.02 + 0.05 * rand.uniform(seed, idx, 1)
        coins.append(
            Coin(
                idx=idx,
                cg_id=cg_id,
                cmc_id=cmc_id,
                cmc_slug=cmc_slug,
                symbol=symbol,
                cg_name=cg_name,
                cmc_name=cmc_name,
                base_rank=idx + 1,
                kind=kind,
                price0=price,
                supply0=supply,
                max_supply=max_supply,
                total_factor=1.0 if max_supply is None else 1.0 + 0.05 * rand.uniform(seed, idx, 2),
                listed_at=_day(listed),
                delisted_at=None,
                sigma=sigma,
                trend=trend,
                turnover=turnover,
                supply_growth=0.0
                if max_supply and supply >= max_supply * 0.98
                else 0.02 * rand.uniform(seed, idx, 3),
                cmc_supply_factor=1.0,
                platforms=dict(platforms),
                categories=("Stablecoins",) if kind == "stable" else (_CATEGORIES[idx % 3 * 2],),
                peg={"wrapped-bitcoin": 0, "weth": 1}.get(cg_id),
            )
        )
        used_cg.add(cg_id)
    used_cmc = {c.cmc_id for c in coins}
    used_symbols = {c.symbol for c in coins}
    platform_names = list(PLATFORMS)
    for idx in range(len(REAL_COINS), n_coins):
        g = lambda k, i=idx: rand.uniform(seed, i, k)  # noqa: E731
        nsyl = 2 + (rand.h64(seed, idx, 10) % 2)
        stem = "".join(rand.pick(_SYL, seed, idx, 11 + j) for j in range(nsyl)).capitalize()
        suffix = rand.pick(_SUFFIX, seed, idx, 15)
        cg_name = stem + suffix
        cmc_name = stem if suffix in (" Protocol", " Token") and g(16) < 0.5 else cg_name
        shared = _SHARED_SYMBOL.get(idx)
        if isinstance(shared, str):
            symbol = shared
        elif isinstance(shared, int):
            symbol = coins[shared].symbol
        else:
            letters = re.sub(r"[^A-Z]", "", cg_name.upper())
            symbol = letters[: 3 + rand.h64(seed, idx, 17) % 2]
            k = 0
            while symbol in used_symbols:  # only the deliberate groups above share a symbol
                symbol = letters[:3] + "ABCDEFGHJKLMNPRSTUVWXYZ"[k % 23] + ("" if k < 23 else str(k // 23))
                k += 1
        used_symbols.add(symbol)
        base = _slug(cg_name)
        cg_id = base
        if cg_id in used_cg or g(18) < 0.05:
            n = 2
            cg_id = f"{base}-token" if g(18) < 0.05 and f"{base}-token" not in used_cg else f"{base}-{n}"
            while cg_id in used_cg:
                n += 1
                cg_id = f"{base}-{n}"
        used_cg.add(cg_id)
        cmc_slug = (
            _slug(cmc_name) if g(19) < 0.9 else _slug(stem) + "-" + rand.pick(("new", "v2", "io"), seed, idx)
        )
        cmc_id = 1000 + idx * 37 + int(rand.h64(seed, idx, 20) % 31)
        while cmc_id in used_cmc:
            cmc_id += 1
        used_cmc.add(cmc_id)
        rank = idx + 1
        cap = 1.2e12 * rank**-1.6 * math.exp(0.25 * rand.gauss(seed, idx, 21))
        kind = "token" if g(22) < 0.7 else "coin"
        if g(23) < 0.015:
            kind = "stable"
        price = 1.0 if kind == "stable" else 10 ** (-4 + 6.5 * g(24))
        supply = cap / price
        max_supply = None if g(25) < 0.5 else supply * (1.05 + 2 * g(26))
        platforms: dict[str, str] = {}
        if kind != "coin":
            for j, plat in enumerate(platform_names):
                if g(30 + j) < (0.6, 0.25, 0.15, 0.1, 0.1, 0.1)[j]:
                    platforms[plat] = _address(plat, seed, idx, 31 + j)
            if not platforms:
                platforms["ethereum"] = _address("ethereum", seed, idx, 31)
        listed_year = 2014.5 + 10 * g(40) ** 0.8
        listed = EPOCH + int((listed_year - 2013.33) * YEAR) // DAY * DAY
        delisted = None
        if g(41) < 0.03:
            delisted = max(listed + 200 * DAY, _day("2023-01-01") + int(g(42) * 700) * DAY)
        sigma = 0.001 if kind == "stable" else 0.03 + 0.05 * g(43)
        coins.append(
            Coin(
                idx=idx,
                cg_id=cg_id,
                cmc_id=cmc_id,
                cmc_slug=cmc_slug,
                symbol=symbol,
                cg_name=cg_name,
                cmc_name=cmc_name,
                base_rank=rank,
                kind=kind,
                price0=price,
                supply0=supply,
                max_supply=max_supply,
                total_factor=1.0 + 0.5 * g(44)
                if max_supply is None
                else 1.0 + (max_supply / supply - 1) * g(45),
                listed_at=listed,
                delisted_at=delisted,
                sigma=sigma,
                trend=0.0 if kind == "stable" else -0.3 + 0.8 * g(46),
                turnover=0.3 if kind == "stable" else 0.01 + 0.2 * g(47) ** 2,
                supply_growth=0.08 * g(48),
                cmc_supply_factor=1.0 + 0.04 * (g(49) - 0.5),
                platforms=platforms,
                on_cg=g(50) >= 0.02,
                on_cmc=g(51) >= 0.02,
                categories=(rand.pick(_CATEGORIES[:9], seed, idx, 52),),
            )
        )
    return coins


# DEX networks: (id, name, slug, native coin cg id, wrapped cg id or None, wrapped symbol, CG platform id)
NETWORKS = [
    ("1", "Ethereum", "ethereum", "ethereum", "weth", "WETH", "ethereum"),
    ("14", "BNB Smart Chain (BEP20)", "bsc", "binancecoin", None, "WBNB", "binance-smart-chain"),
    ("16", "Solana", "solana", "solana", None, "WSOL", "solana"),
    ("25", "Polygon", "polygon", "polygon-ecosystem-token", None, "WPOL", "polygon-pos"),
    ("51", "Arbitrum", "arbitrum", "ethereum", "weth", "WETH", "arbitrum-one"),
    ("199", "Base", "base", "ethereum", "weth", "WETH", "base"),
]
DEXES = {
    "1": [
        ("1348", "uniswap-v3", "Uniswap v3"),
        ("1069", "uniswap-v2", "Uniswap v2"),
        ("1070", "sushiswap", "SushiSwap"),
    ],
    "14": [
        ("6706", "pancakeswap-v3-bsc", "PancakeSwap v3 (BSC)"),
        ("1344", "pancakeswap-v2", "PancakeSwap v2"),
    ],
    "16": [("1342", "raydium", "Raydium"), ("1541", "orca", "Orca")],
    "25": [("1247", "quickswap", "QuickSwap")],
    "51": [("5815", "camelot", "Camelot"), ("1445", "uniswap-v3-arbitrum", "Uniswap v3 (Arbitrum)")],
    "199": [("6891", "aerodrome", "Aerodrome"), ("6350", "uniswap-v3-base", "Uniswap v3 (Base)")],
}


@dataclass(frozen=True)
class Network:
    """A DEX chain as CMC DEX lists it."""

    id: str
    name: str
    slug: str
    native: Coin
    wrapped_id: int
    wrapped_symbol: str
    cg_platform: str


@dataclass(frozen=True)
class Pair:
    """A DEX pool: ``base`` priced in ``quote`` on one dex of one network."""

    idx: int
    contract_address: str
    network: Network
    dex_id: str
    dex_slug: str
    base: Coin
    base_address: str
    quote: Coin
    quote_symbol: str
    quote_address: str
    created_at: int
    liquidity0: float
    volume0: float
    tx_per_usd: float


@dataclass(frozen=True)
class Exchange:
    """A centralised exchange (CoinGecko ``/exchanges`` and CMC ``/exchange/listings/latest``)."""

    idx: int
    cg_id: str
    cmc_id: int
    name: str
    slug: str
    year: int | None
    country: str | None
    trust_score: int
    volume_btc0: float
    pairs: int
    launched: int


_REAL_EXCHANGES = [
    ("binance", 270, "Binance", 2017, "Cayman Islands"),
    ("gdax", 89, "Coinbase Exchange", 2012, "United States"),
    ("bybit_spot", 521, "Bybit", 2018, "British Virgin Islands"),
    ("okex", 294, "OKX", 2017, "Seychelles"),
    ("kraken", 24, "Kraken", 2011, "United States"),
    ("kucoin", 311, "KuCoin", 2014, "Seychelles"),
    ("gate", 302, "Gate", 2013, "Cayman Islands"),
    ("bitget", 513, "Bitget", 2018, "Seychelles"),
    ("huobi", 102, "HTX", 2013, "Seychelles"),
    ("mxc", 544, "MEXC", 2018, "Seychelles"),
    ("crypto_com", 1149, "Crypto.com Exchange", 2019, "Cayman Islands"),
    ("bitfinex", 37, "Bitfinex", 2014, "British Virgin Islands"),
    ("bitstamp", 70, "Bitstamp", 2011, "Luxembourg"),
    ("gemini", 151, "Gemini", 2014, "United States"),
    ("upbit", 351, "Upbit", 2017, "South Korea"),
    ("bithumb", 200, "Bithumb", 2014, "South Korea"),
]
_COUNTRIES = (
    "Seychelles",
    "Cayman Islands",
    "United States",
    "Singapore",
    "Hong Kong",
    "Estonia",
    "Lithuania",
    "Brazil",
    "Turkey",
    "Japan",
    None,
)
N_EXCHANGES = 140


class _Lru(OrderedDict):
    """A dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key, value) -> None:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)


class Universe:
    """The deterministic world the sandbox serves. Use :meth:`default` (one per seed and process)."""

    def __init__(self, seed: int = DEFAULT_SEED, coins: int = N_COINS) -> None:
        self.seed = seed
        self.coins = _build_coins(seed, coins)
        self.cg_coins = [c for c in self.coins if c.on_cg]
        self.cmc_coins = [c for c in self.coins if c.on_cmc]
        self.by_cg_id = {c.cg_id: c for c in self.cg_coins}
        self.by_cmc_id = {c.cmc_id: c for c in self.cmc_coins}
        self.by_cmc_slug = {c.cmc_slug: c for c in self.cmc_coins}
        self.by_symbol: dict[str, list[Coin]] = {}
        for c in self.cmc_coins:
            self.by_symbol.setdefault(c.symbol, []).append(c)
        self._anchor_memo: dict[int, float] = {}
        self._paths: _Lru = _Lru(6000)
        self._ends: dict[int, tuple[float, float]] = {}
        self._gauss_memo: dict[int, float] = {}
        self.networks = self._build_networks()
        self.pairs = self._build_pairs()
        self.pairs_by_address = {p.contract_address.lower(): p for p in self.pairs}
        self.exchanges = self._build_exchanges()

    @staticmethod
    @lru_cache(maxsize=4)
    def default(seed: int = DEFAULT_SEED, coins: int = N_COINS) -> Universe:
        """The shared instance for ``seed`` and ``coins`` (building the default takes a fraction of a
        second; 10,000 coins a few seconds)."""
        return Universe(seed, coins)

    # ---------------------------------------------------------------------------------------- prices

    def _endpoints(self, c: Coin) -> tuple[float, float]:
        ends = self._ends.get(c.idx)
        if ends is None:
            ends = (0.3 * rand.gauss(self.seed, c.idx, 1, 0), 0.3 * rand.gauss(self.seed, c.idx, 1, 1))
            if c.kind == "stable":
                ends = (0.0, 0.0)
            self._ends[c.idx] = ends
        return ends

    def _anchor(self, c: Coin, day: int) -> float:
        """The walk's log deviation at 00:00 UTC of ``day`` (days since EPOCH), via a dyadic bridge."""
        lo, hi = 0, TREE_DAYS
        vlo, vhi = self._endpoints(c)
        if day <= 0:
            return vlo
        if day >= TREE_DAYS:
            return vhi
        memo = self._anchor_memo
        base = c.idx * (TREE_DAYS + 1)
        cap = 0.0015 if c.kind == "stable" else 0.45
        sigma = c.sigma
        seed = self.seed
        while True:
            m = (lo + hi) >> 1
            vm = memo.get(base + m)
            if vm is None:
                sd = sigma * math.sqrt(hi - lo) * 0.5
                sd = min(sd, cap)
                vm = (vlo + vhi) * 0.5 + sd * rand.gauss(seed, c.idx, m, 2)
                if len(memo) > 200_000:
                    memo.clear()
                memo[base + m] = vm
            if day == m:
                return vm
            if day < m:
                hi, vhi = m, vm
            else:
                lo, vlo = m, vm

    def _path(self, c: Coin, day: int) -> array:
        """The 289 USD prices of ``day`` at 00:00, 00:05, ... 24:00 (bounded LRU)."""
        key = c.idx * 100_000 + day
        path = self._paths.get(key)
        if path is not None:
            return path
        if c.peg is not None:  # a wrapped token: its underlying's path within +-0.1 %
            factor = 1.0 + 0.001 * math.tanh(rand.gauss(self.seed, c.idx, day, 16))
            path = array("d", (v * factor for v in self._path(self.coins[c.peg], day)))
            self._paths.put(key, path)
            return path
        a0 = self._anchor(c, day)
        a1 = self._anchor(c, day + 1)
        rng = random.Random(rand.h64(self.seed, c.idx, day, 3))
        rr = rng.random
        steps = [rr() for _ in range(STEPS)]  # uniform increments: a random walk with the right variance
        scale = c.sigma / math.sqrt(STEPS) * _SQRT12
        t0 = EPOCH + day * DAY
        base = math.log(c.price0) + c.trend * (t0 - T_REF) / YEAR + a0
        # Brownian bridge from a0 to a1 plus the trend: each step is scale * u + adj, where adj removes the
        # walk's own end point and adds the straight line between the anchors.
        walk_end = sum(steps) - 0.5 * STEPS
        adj = (a1 - a0) / STEPS + c.trend * STEP / YEAR - 0.5 * scale - scale * walk_end / STEPS
        logs = accumulate([scale * u + adj for u in steps], initial=base)
        exp = math.exp
        path = array("d", map(exp, logs))
        path[0] = exp(base)  # exactly day_open(c, day)
        self._paths.put(key, path)
        return path

    def day_open(self, c: Coin, day: int) -> float:
        """The USD price at 00:00 UTC of ``day`` (days since EPOCH) without building the day's path.

        Equal, bit for bit, to the first point of :meth:`_path`.
        """
        if c.peg is not None:
            factor = 1.0 + 0.001 * math.tanh(rand.gauss(self.seed, c.idx, day, 16))
            return self.day_open(self.coins[c.peg], day) * factor
        t0 = EPOCH + day * DAY
        return math.exp(math.log(c.price0) + c.trend * (t0 - T_REF) / YEAR + self._anchor(c, day))

    def price(self, c: Coin, t: float) -> float:
        """CoinGecko's USD price of ``c`` at ``t`` (UNIX seconds; linear between 5-minute points)."""
        x = (t - EPOCH) / STEP
        if x < 0:
            x = 0.0
        step = int(x)
        day, s = divmod(step, STEPS)
        frac = x - step
        if s == 0 and frac == 0.0:
            return self.day_open(c, day)
        path = self._path(c, day)
        if frac == 0.0:
            return path[s]
        return path[s] * (1.0 - frac) + path[s + 1] * frac

    def price_range(self, c: Coin, t0: float, t1: float) -> tuple[float, float]:
        """(high, low) of the 5-minute prices in ``[t0, t1]`` plus the two ends."""
        hi = lo = self.price(c, t0)
        end = self.price(c, t1)
        hi, lo = max(hi, end), min(lo, end)
        s0 = math.ceil((t0 - EPOCH) / STEP)
        s1 = int((t1 - EPOCH) // STEP)
        while s0 <= s1:
            day, s = divmod(s0, STEPS)
            last = min(STEPS, s + (s1 - s0))
            seg = self._path(c, day)[s : last + 1]
            hi = max(hi, *seg)
            lo = min(lo, *seg)
            s0 += last - s + 1
        return hi, lo

    def extremes_at(self, c: Coin, t0: float, t1: float) -> tuple[float, float, float, float]:
        """(high, time of high, low, time of low) over the 5-minute prices in ``[t0, t1]`` and its ends."""
        best = [(self.price(c, t0), t0), (self.price(c, t1), t1)]
        s0 = math.ceil((t0 - EPOCH) / STEP)
        s1 = int((t1 - EPOCH) // STEP)
        while s0 <= s1:
            day, s = divmod(s0, STEPS)
            last = min(STEPS, s + (s1 - s0))
            seg = self._path(c, day)[s : last + 1]
            hi = max(seg)
            lo = min(seg)
            base = EPOCH + day * DAY
            best.append((hi, base + (s + seg.index(hi)) * STEP))
            best.append((lo, base + (s + seg.index(lo)) * STEP))
            s0 += last - s + 1
        high = max(best, key=lambda v: (v[0], -v[1]))
        low = min(best, key=lambda v: (v[0], v[1]))
        return high[0], high[1], low[0], low[1]

    def supply(self, c: Coin, t: float) -> float:
        """CoinGecko's circulating supply at ``t`` (a slow, deterministic growth)."""
        v = c.supply0 * (1.0 + c.supply_growth * (t - T_REF) / YEAR)
        v = max(v, 0.2 * c.supply0)
        if c.max_supply is not None:
            v = min(v, c.max_supply)
        return v

    def total_supply(self, c: Coin, t: float) -> float:
        v = self.supply(c, t) * c.total_factor
        return min(v, c.max_supply) if c.max_supply is not None else v

    def market_cap(self, c: Coin, t: float) -> float:
        return self.price(c, t) * self.supply(c, t)

    def _noise(self, key: int, idx: int, k: int) -> float:
        """``rand.gauss(seed, idx, k, key)``, memoised (a bounded dict: neighbouring points share knots)."""
        memo_key = (key * 1_000 + idx) * 100_000_000 + k
        v = self._gauss_memo.get(memo_key)
        if v is None:
            if len(self._gauss_memo) > 150_000:
                self._gauss_memo.clear()
            v = self._gauss_memo[memo_key] = rand.gauss(self.seed, idx, k, key)
        return v

    def _smooth(self, key: int, c: Coin, t: float, period: int) -> float:
        """A smooth standard-normal-ish series: gaussian knots every ``period`` s, linear in between."""
        x = t / period
        k = int(x)
        f = x - k
        return self._noise(key, c.idx, k) * (1 - f) + self._noise(key, c.idx, k + 1) * f

    def volume(self, c: Coin, t: float, price: float | None = None) -> float:
        """CoinGecko's 24 h volume in USD at ``t`` (``price``: the price at ``t`` when already known)."""
        noise = 0.3 * self._smooth(4, c, t, DAY)
        p = self.price(c, t) if price is None else price
        return p * self.supply(c, t) * c.turnover * math.exp(noise)

    # ------------------------------------------------------------------------------------------ CMC

    def cmc_spread(self, c: Coin, t: float) -> float:
        """CMC price / CoinGecko price - 1, within +-0.5 %."""
        return 0.005 * math.tanh(rand.gauss(self.seed, c.idx, int(t // STEP), 5))

    def cmc_price(self, c: Coin, t: float) -> float:
        return self.price(c, t) * (1.0 + self.cmc_spread(c, t))

    def cmc_supply(self, c: Coin, t: float) -> float:
        v = self.supply(c, t) * c.cmc_supply_factor
        return min(v, c.max_supply) if c.max_supply is not None else v

    def cmc_volume(self, c: Coin, t: float, price: float | None = None) -> float:
        """CMC's 24 h volume: CoinGecko's within +-5 % (``price``: CoinGecko's price at ``t`` if known)."""
        return self.volume(c, t, price) * (1.0 + 0.05 * math.tanh(self._noise(6, c.idx, int(t // HOUR))))

    # ------------------------------------------------------------------------------------- rankings

    @lru_cache(maxsize=64)  # noqa: B019 - bounded; the universe lives as long as the process
    def cg_ranking(self, snap: int) -> tuple[tuple[Coin, float], ...]:
        """CoinGecko coins active at ``snap`` by market cap (descending) with their caps."""
        rows = [
            (c, self.market_cap(c, self.cg_last_updated(c, snap))) for c in self.cg_coins if c.active_at(snap)
        ]
        rows.sort(key=lambda r: (-r[1], r[0].idx))
        return tuple(rows)

    @lru_cache(maxsize=64)  # noqa: B019
    def cmc_ranking(self, snap: int) -> tuple[tuple[Coin, float], ...]:
        """CMC coins active at ``snap`` by market cap (descending) with their caps."""
        rows = []
        for c in self.cmc_coins:
            if c.active_at(snap):
                t = self.cmc_last_updated(c, snap)
                rows.append((c, self.cmc_price(c, t) * self.cmc_supply(c, t)))
        rows.sort(key=lambda r: (-r[1], r[0].idx))
        return tuple(rows)

    def cg_rank(self, c: Coin, snap: int) -> int | None:
        return self._rank_index("cg", snap).get(c.idx)

    def cmc_rank(self, c: Coin, snap: int) -> int | None:
        return self._rank_index("cmc", snap).get(c.idx)

    @lru_cache(maxsize=64)  # noqa: B019
    def _rank_index(self, side: str, snap: int) -> dict[int, int]:
        ranking = self.cg_ranking(snap) if side == "cg" else self.cmc_ranking(snap)
        return {c.idx: i + 1 for i, (c, _) in enumerate(ranking)}

    def cg_last_updated(self, c: Coin, snap: int) -> float:
        """When CoinGecko last refreshed ``c`` before the snapshot ``snap``: 0-45 s before it (ms)."""
        return snap - (rand.h64(self.seed, c.idx, snap, 8) % 45_000) / 1000.0

    def cmc_last_updated(self, c: Coin, snap: int) -> float:
        """CMC refreshes every minute on the minute: the last whole minute at or before ``snap``."""
        return float(snap - snap % 60)

    # ------------------------------------------------------------------------------------ whole market

    def btc_dominance(self, t: float) -> float:
        btc = self.coins[0]
        return 0.525 + 0.07 * math.tanh(0.8 * self._smooth(9, btc, t, 7 * DAY))

    def total_market_cap(self, t: float) -> float:
        return self.market_cap(self.coins[0], t) / self.btc_dominance(t)

    def total_volume(self, t: float) -> float:
        btc = self.coins[0]
        return self.volume(btc, t) / (0.32 + 0.05 * math.tanh(self._smooth(10, btc, t, DAY)))

    def active_cryptocurrencies(self, t: float) -> int:
        return 8_800 + int(max(0.0, (t - T_REF) / DAY) * 3) + int((t - EPOCH) / DAY / 10)

    def fear_greed(self, t: float) -> int:
        """The fear-and-greed value (1-99) at ``t``: BTC's 7-day return plus noise."""
        btc = self.coins[0]
        r7 = math.log(self.price(btc, t) / self.price(btc, t - 7 * DAY))
        v = 50 + 150 * r7 + 8 * self._smooth(11, btc, t, DAY)
        return int(min(99, max(1, round(v))))

    # --------------------------------------------------------------------------------------- DEX

    def _build_networks(self) -> list[Network]:
        out = []
        for nid, name, slug, native, wrapped, wsym, plat in NETWORKS:
            coin = self.by_cg_id[native]
            wrapped_id = self.by_cg_id[wrapped].cmc_id if wrapped else 10_000 + int(nid)
            out.append(Network(nid, name, slug, coin, wrapped_id, wsym, plat))
        return out

    def network(self, key: str) -> Network | None:
        """A network by id or slug (slugs compared case-insensitively)."""
        key = str(key).lower()
        for n in self.networks:
            if key in (n.id, n.slug, n.name.lower()):
                return n
        return None

    def _build_pairs(self) -> list[Pair]:
        pairs: list[Pair] = []
        usdc = self.by_cg_id["usd-coin"]
        for net in self.networks:
            wrapped_addr = (
                self.by_cg_id["weth"].platforms["ethereum"]
                if net.wrapped_symbol == "WETH" and net.cg_platform == "ethereum"
                else _address(net.cg_platform, self.seed, int(net.id), 90)
            )
            usdc_addr = usdc.platforms.get(net.cg_platform) or _address(
                net.cg_platform, self.seed, int(net.id), 91
            )
            quotes = [(net.native, net.wrapped_symbol, wrapped_addr), (usdc, "USDC", usdc_addr)]
            dexes = DEXES[net.id]
            for c in self.coins:
                if net.cg_platform not in c.platforms or c.kind == "stable":
                    continue
                n = 1 + rand.h64(self.seed, c.idx, int(net.id), 92) % 3
                for j in range(n):
                    quote, qsym, qaddr = quotes[j % 2]
                    dex_id, dex_slug, _ = dexes[(j + c.idx) % len(dexes)]
                    if quote is c or c.peg == quote.idx:
                        continue
                    idx = len(pairs)
                    cap = c.price0 * c.supply0
                    pairs.append(
                        Pair(
                            idx=idx,
                            contract_address=_address(net.cg_platform, self.seed, c.idx, int(net.id), j, 93),
                            network=net,
                            dex_id=dex_id,
                            dex_slug=dex_slug,
                            base=c,
                            base_address=c.platforms[net.cg_platform],
                            quote=quote,
                            quote_symbol=qsym,
                            quote_address=qaddr,
                            created_at=max(c.listed_at, _day("2020-05-05"))
                            + int(rand.uniform(self.seed, idx, 94) * 300) * DAY,
                            liquidity0=min(4e8, cap * (0.0005 + 0.01 * rand.uniform(self.seed, idx, 95)))
                            / (j + 1),
                            volume0=0.0,
                            tx_per_usd=1 / (800 + 4000 * rand.uniform(self.seed, idx, 96)),
                        )
                    )
        # Volumes as a fraction of liquidity, fixed per pair.
        return [
            Pair(**{**p.__dict__, "volume0": p.liquidity0 * (0.1 + 1.5 * rand.uniform(self.seed, p.idx, 97))})
            for p in pairs
        ]

    def pair_price(self, p: Pair, t: float) -> float:
        """USD price of the pair's base token on this pool: the CoinGecko price within +-0.6 %."""
        spread = 0.006 * math.tanh(rand.gauss(self.seed, p.idx, int(t // STEP), 12))
        return self.price(p.base, t) * (1.0 + spread)

    def pair_liquidity(self, p: Pair, t: float) -> float:
        return p.liquidity0 * math.exp(0.2 * self._smooth(13, p.base, t + p.idx * 977, DAY))

    def pair_volume(self, p: Pair, t: float) -> float:
        return p.volume0 * math.exp(0.4 * self._smooth(14, p.base, t + p.idx * 131, HOUR))

    def pair_transactions(self, p: Pair, t: float) -> int:
        return max(1, int(self.pair_volume(p, t) * p.tx_per_usd))

    # ----------------------------------------------------------------------------------- exchanges

    def _build_exchanges(self) -> list[Exchange]:
        out = []
        for i in range(N_EXCHANGES):
            if i < len(_REAL_EXCHANGES):
                cg_id, cmc_id, name, year, country = _REAL_EXCHANGES[i]
                slug = _slug(name)
            else:
                stem = "".join(rand.pick(_SYL, self.seed, 500 + i, j) for j in range(2)).capitalize()
                name = stem + rand.pick((" Exchange", "X", " Pro", ".io", " Markets"), self.seed, 500 + i, 5)
                cg_id = _slug(name).replace("-", "_")
                slug = _slug(name)
                cmc_id = 600 + i * 13
                year = (
                    None
                    if rand.uniform(self.seed, 500 + i, 6) < 0.2
                    else 2013 + int(rand.uniform(self.seed, 500 + i, 7) * 11)
                )
                country = rand.pick(_COUNTRIES, self.seed, 500 + i, 8)
            trust = max(1, 10 - i // 12 - int(rand.uniform(self.seed, 500 + i, 9) * 2))
            out.append(
                Exchange(
                    idx=i,
                    cg_id=cg_id,
                    cmc_id=cmc_id,
                    name=name,
                    slug=slug,
                    year=year,
                    country=country,
                    trust_score=trust,
                    volume_btc0=120_000 * (i + 1) ** -1.3,
                    pairs=int(2000 * (i + 1) ** -0.6) + 5,
                    launched=_day(f"{year or 2019}-06-01"),
                )
            )
        return out

    def exchange_volume_btc(self, e: Exchange, t: float) -> float:
        return e.volume_btc0 * math.exp(0.3 * self._smooth(15, self.coins[0], t + e.idx * 7919, HOUR))
