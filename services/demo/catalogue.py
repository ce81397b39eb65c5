"""The one product catalogue of certlife's generated data (demo, scenario and fixtures).

Products and the schemes that certify them, the standards they cite, how
their models and numbers are named, the companies that hold them and where
they are made -- the vocabulary that both the Kafka scenario generator
(``certlife.services.demo.scenario``) and the fixture generator
(``certlife.services.demo.fixturegen``) draw from. Company names are made up;
standards, regulations and schemes are real. A standard written as
``(old, new, "YYYY-MM-DD")`` is cited in its new edition by certificates whose
validity starts on or after that day.

The naming functions take a ``certlife.services.demo.choosers.Chooser``, so
each generator keeps its own way of choosing (hashes or a random stream) and
both stay deterministic. Every text here passes the admission rule
(``certlife.contracts.admission.check_text``) and every number it composes
fits the number profile (``NUMBER_PATTERN``); ``tests/unit/test_catalogue.py``
checks generated output of both generators against them. No runtime service
imports this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from certlife.services.demo.choosers import Chooser

Standard = str | tuple[str, str, str]


@dataclass(frozen=True)
class Product:
    """A product family, the schemes certifying it and how its models are named."""

    name: str
    schemes: tuple[tuple[str, tuple[Standard, ...]], ...]
    families: tuple[str, ...]
    ratings: tuple[str, ...]
    variants: tuple[str, ...]
    model: str  # format fields: family, rating, variant
    scope: str  # format fields: rating, detail
    details: tuple[str, ...]
    industry: str
    code: str  # product code inside CCC / CQC numbers
    regulation: tuple[str, str] = ("", "")  # UN regulation and series for E-mark numbers


@dataclass(frozen=True)
class Country:
    """A country where companies are registered and factories stand."""

    name: str
    weight: int  # relative share of the companies
    cities: tuple[str, ...]
    streets: tuple[str, ...]
    legal_form: str
    roots: tuple[str, ...]  # invented company name roots


_GBT_2023 = "2024-04-01"

PRODUCTS = (
    Product(
        name="Off-board conductive DC charger for electric vehicles",
        schemes=(
            ("CQC", (("GB/T 18487.1-2015", "GB/T 18487.1-2023", _GBT_2023),
                     ("GB/T 20234.1-2015", "GB/T 20234.1-2023", _GBT_2023),
                     ("GB/T 20234.3-2015", "GB/T 20234.3-2023", _GBT_2023), "NB/T 33001-2018")),
            ("CB", ("IEC 61851-1:2017", ("IEC 61851-23:2014", "IEC 61851-23:2023", "2024-01-01"),
                    "IEC 62196-3:2022")),
        ),
        families=("EVD", "HPC", "SDC", "UDC"),
        ratings=("30", "60", "120", "160", "180", "240", "360", "480"),
        variants=("", "-S", "-D", "-LC"),
        model="{family}-{rating}K{variant}",
        scope="Off-board DC charger, rated output {rating} kW, 200-1000 V DC, {detail}",
        details=("3-phase 400 V AC input, IP54, outdoor use",
                 "3-phase 380 V AC input, IP55, liquid-cooled cable",
                 "split type with separate power cabinet, IP54"),
        industry="Charging Technology", code="0815",
    ),
    Product(
        name="AC charging station for electric vehicles, mode 3",
        schemes=(
            ("CB", ("IEC 61851-1:2017", "IEC 62196-2:2022", "IEC 62955:2018")),
            ("CQC", (("GB/T 18487.1-2015", "GB/T 18487.1-2023", _GBT_2023),
                     ("GB/T 20234.2-2015", "GB/T 20234.2-2023", _GBT_2023))),
        ),
        families=("WB", "ACW", "HomeCharge"),
        ratings=("7", "11", "22"),
        variants=("", "-W", "-RFID", "-4G"),
        model="{family}-AC{rating}{variant}",
        scope="AC charging station, mode 3, rated {rating} kW, {detail}",
        details=("Type 2 socket-outlet, IP54, wall or pedestal mounting",
                 "tethered cable with Type 2 connector, IP55",
                 "GB/T AC vehicle connector, IP54"),
        industry="E-Mobility", code="0816",
    ),
    Product(
        name="Lithium-ion traction battery pack for electric vehicles",
        schemes=(
            ("CCC", (("GB 38031-2020", "GB 38031-2025", "2025-04-01"), "GB/T 31484-2015", "GB/T 31486-2015")),
            ("E-mark", ("UN Regulation No. 100 (03 series)",)),
        ),
        families=("TBP", "EBS", "PK"),
        ratings=("45", "60", "77", "85", "100", "120"),
        variants=("LFP-400", "NCM-400", "NCM-800", "LFP-800"),
        model="{family}{rating}-{variant}",
        scope="Traction battery pack, {rating} kWh, {detail}",
        details=("liquid cooling, IP67, cell-to-pack design", "prismatic cells, liquid cooling, IP68",
                 "pouch cells, forced-air cooling, IP67"),
        industry="Battery Systems", code="1109", regulation=("100", "03"),
    ),
    Product(
        name="32-bit automotive microcontroller",
        schemes=(("CQC", (("AEC-Q100 Rev-H", "AEC-Q100 Rev-J", "2023-09-01"), "ISO 26262-5:2018")),),
        families=("AX32K3", "AX32G4", "RV32A7"),
        ratings=("512K", "1M", "2M", "4M"),
        variants=("LQFP100", "LQFP144", "BGA176", "QFN64"),
        model="{family}-{rating}-{variant}",
        scope="Automotive-grade 32-bit microcontroller, {rating}B flash, {detail}",
        details=("AEC-Q100 Grade 1 (-40 °C to +125 °C)", "AEC-Q100 Grade 0 (-40 °C to +150 °C)",
                 "AEC-Q100 Grade 2 (-40 °C to +105 °C)"),
        industry="Microelectronics", code="0912",
    ),
    Product(
        name="Pneumatic radial tyre for passenger cars",
        schemes=(
            ("E-mark", ("UN Regulation No. 30 (02 series)", "UN Regulation No. 117 (02 series)")),
            ("CCC", ("GB 9743-2015",)),
        ),
        families=("EcoGrip 5", "Sportline 3", "AllSeason 2", "UrbanRide", "Touring HP"),
        ratings=("195/65 R15 91H", "205/55 R16 91V", "215/60 R16 95H", "225/45 R17 94W XL",
                 "235/55 R18 100V", "245/40 R19 98Y XL", "255/45 R20 105W XL"),
        variants=("", " M+S", " RunFlat"),
        model="{family} {rating}{variant}",
        scope="Passenger car radial tyres (class C1), sizes from {rating}, {detail}",
        details=("rolling resistance class C, wet grip class B, external rolling noise 71 dB(A)",
                 "snow tyre marking 3PMSF, wet grip class B",
                 "reinforced (extra load), low rolling resistance"),
        industry="Tyre", code="1201", regulation=("117", "02"),
    ),
    Product(
        name="Charging cable for electric vehicles",
        schemes=(
            ("CB", (("IEC 62893-1:2017", "IEC 62893-1:2017+AMD1:2020", "2020-09-01"), "IEC 62893-3:2017",
                    "IEC 62893-4-1:2020")),
            ("CQC", ("GB/T 33594-2017",)),
        ),
        families=("EVC", "ECC", "FlexCharge"),
        ratings=("AC 5G2.5+1x0.5", "AC 5G6+2x0.75", "DC 2x35+1x16+6x0.75", "DC 2x70+1x25+6x0.75",
                 "DC 2x95+1x35+6x0.75"),
        variants=("", " TPE", " PUR"),
        model="{family} {rating}{variant}",
        scope="EV charging cable {rating}, {detail}",
        details=("rated voltage 0.6/1 kV (DC 1500 V), -40 °C to +90 °C, halogen-free",
                 "rated voltage 450/750 V, -40 °C to +90 °C, class 5 flexible copper conductors",
                 "rated voltage 0.6/1 kV, oil- and UV-resistant sheath"),
        industry="Cable", code="0213",
    ),
)  # fmt: skip

#: Where companies and factories are; ``weight`` is the share of companies.
COUNTRIES = (
    Country("China", 10, legal_form="Co., Ltd.",
            cities=("Shenzhen, Guangdong", "Suzhou, Jiangsu", "Ningde, Fujian",
                    "Hefei, Anhui", "Changzhou, Jiangsu"),
            streets=("Keji Road", "Xinghu Street", "Huangshan Road", "Jinji Avenue"),
            roots=("Huaxin", "Jinrui", "Hengtai", "Zhongke", "Tianyi",
                   "Xinda", "Ruineng", "Guangyu", "Boyuan", "Kaixin")),
    Country("Germany", 4, legal_form="GmbH",
            cities=("Stuttgart", "Nuremberg", "Dresden", "Hanover"),
            streets=("Industriestraße", "Siemensstraße", "Am Gewerbepark"),
            roots=("Rheinwerk", "Elbtal", "Nordwerk", "Voltara", "Bergmann")),
    Country("Japan", 3, legal_form="Co., Ltd.",
            cities=("Nagoya, Aichi", "Hamamatsu, Shizuoka", "Kumamoto"),
            streets=("Kogyo-dori", "Minato-machi"),
            roots=("Kitamura", "Aoba", "Tokai", "Sakuragi")),
    Country("Republic of Korea", 3, legal_form="Co., Ltd.",
            cities=("Cheongju", "Ulsan", "Suwon"),
            streets=("Sandan-ro", "Techno 2-ro"),
            roots=("Daehan", "Hanbit", "Seoyeon")),
    Country("United States", 2, legal_form="Inc.",
            cities=("Fremont, CA", "Greenville, SC", "Austin, TX"),
            streets=("Industrial Parkway", "Commerce Drive"),
            roots=("Brightline", "Redwood", "Keystone")),
    Country("France", 1, legal_form="SAS",
            cities=("Lyon", "Clermont-Ferrand"),
            streets=("Rue de l'Industrie", "Avenue des Frères Lumière"),
            roots=("Valcourt", "Lumiane")),
    Country("Italy", 1, legal_form="S.p.A.",
            cities=("Turin", "Bergamo"),
            streets=("Via dell'Industria", "Corso Europa"),
            roots=("Ferrante", "Adriatica")),
    Country("Hungary", 1, legal_form="Kft.",
            cities=("Debrecen", "Győr"),
            streets=("Ipari út", "Határ út"),
            roots=("Tisza", "Pannon")),
    Country("Poland", 1, legal_form="Sp. z o.o.",
            cities=("Wrocław", "Gliwice"),
            streets=("ulica Przemysłowa", "ulica Fabryczna"),
            roots=("Wisła", "Odra")),
    Country("Thailand", 1, legal_form="Co., Ltd.",
            cities=("Rayong", "Chonburi"),
            streets=("Eastern Seaboard Industrial Estate", "Amata City Industrial Estate"),
            roots=("Siam", "Chao Phraya")),
    Country("Viet Nam", 1, legal_form="Co., Ltd.",
            cities=("Hai Phong", "Bac Ninh"),
            streets=("VSIP Road", "Yen Phong Industrial Park"),
            roots=("Hong Lam", "Lac Viet")),
    Country("Mexico", 1, legal_form="S.A. de C.V.",
            cities=("Monterrey, Nuevo León", "Querétaro"),
            streets=("Parque Industrial Stiva", "Avenida de la Industria"),
            roots=("Sierra Madre", "Bajío")),
    Country("India", 1, legal_form="Pvt. Ltd.",
            cities=("Pune, Maharashtra", "Chennai, Tamil Nadu"),
            streets=("MIDC Chakan", "SIPCOT Industrial Park"),
            roots=("Sahyadri", "Kaveri")),
)  # fmt: skip

#: Validity in years by scheme.
VALIDITY_YEARS = {"CCC": 5, "CQC": 5, "CB": 3, "E-mark": 4}
#: National certification bodies that prefix CB test certificate numbers.
CB_BODIES = ("CN", "DE", "DK", "FR", "JP", "KR", "US")
#: E-mark approval authority numbers (E1 Germany, E2 France, E4 Netherlands, ...).
E_NUMBERS = ("1", "2", "3", "4", "5", "9", "11", "13")

#: Every country once per unit of weight: a uniform pick is a weighted one.
COUNTRY_TABLE = tuple(country for country in COUNTRIES for _ in range(country.weight))

#: Scope clauses an amendment may add.
SCOPE_EXTENSIONS = (
    "including variants for export markets",
    "with updated firmware and marking",
    "rated ambient temperature extended to +50 °C",
    "alternative supplier of critical components approved",
)

#: Reasons by lifecycle event; ``None`` means the event is recorded without a reason.
REASONS: dict[str, tuple[str | None, ...]] = {
    "suspended": (
        "factory inspection found nonconformity in production consistency",
        "follow-up sample test failed",
        "annual surveillance not accepted within the required period",
        "suspension requested by the certificate holder",
        "misuse of the certification mark",
    ),
    "reinstated": (None, "corrective actions verified", "surveillance completed without findings"),
    "renewed": (None, "renewal requested by the certificate holder", "renewal after re-evaluation"),
    "revoked": (
        "corrective actions not completed within the suspension period",
        "product recall for a safety defect",
        "falsified test report",
        "critical nonconformity found in market surveillance",
    ),
    "withdrawn": (
        None,
        "withdrawn at the request of the certificate holder",
        "product discontinued",
        "certificate holder ceased trading",
    ),
}

#: Testing laboratories named in test report references.
LABS = ("CQC Testing Centre Shenzhen", "TÜV Rheinland", "VDE Prüfinstitut", "UL LLC", "Intertek Semko AB")


class Amendment(NamedTuple):
    """One change to a certificate: a model, a factory or a scope clause added."""

    kind: str  # "models", "factories" or "scope"
    value: str  # the model, the factory address or the scope clause
    note: str  # the reason recorded with the change


def standards_of(product: Product, scheme: str) -> tuple[Standard, ...]:
    """The standards ``product`` is certified against under ``scheme`` (``KeyError`` if none)."""
    for name, cited in product.schemes:
        if name == scheme:
            return cited
    raise KeyError(f"{product.name} is not certified under {scheme}")


def standards(product: Product, scheme: str, valid_from: str) -> list[str]:
    """The editions cited by a certificate whose validity starts at ``valid_from``.

    ``valid_from`` is an ISO 8601 date or instant (``YYYY-MM-DD...``); ISO
    strings compare in time order, so no date is parsed.
    """
    out = []
    for std in standards_of(product, scheme):
        if isinstance(std, str):
            out.append(std)
        else:
            old, new, since = std
            out.append(new if valid_from >= since else old)
    return out


def company(choose: Chooser, industry: str) -> tuple[str, Country]:
    """An invented company of ``industry`` and the country it is registered in."""
    country = choose.pick(COUNTRY_TABLE)
    root, city = choose.pick(country.roots), choose.pick(country.cities)
    prefix = city.split(",")[0] + " " if country.name == "China" else ""
    return f"{prefix}{root} {industry} {country.legal_form}", country


def address(choose: Chooser, country: Country) -> str:
    """A factory address in ``country``."""
    street, house = choose.pick(country.streets), 1 + choose.below(400)
    return f"{street} {house}, {choose.pick(country.cities)}, {country.name}"


def model(choose: Chooser, product: Product, family: str) -> tuple[str, str]:
    """A model name of ``family`` and its rating."""
    rating = choose.pick(product.ratings)
    return product.model.format(family=family, rating=rating, variant=choose.pick(product.variants)), rating


def scope(choose: Chooser, product: Product, rating: str) -> str:
    """The scope statement of a certificate whose first model has ``rating``."""
    return product.scope.format(rating=rating, detail=choose.pick(product.details))


def number(choose: Chooser, product: Product, scheme: str, serial: int, year: int) -> str:
    """The certificate number of the ``serial``-th certificate, issued in ``year``.

    Numbers of different serials differ; all fit the admission rule's profile
    (ASCII letters, digits, spaces and ``-``).
    """
    if scheme == "CCC":
        return f"{year}{product.code}{serial:08d}"
    if scheme == "CQC":
        return f"CQC{year % 100:02d}{product.code}{serial:07d}"
    if scheme == "CB":
        return f"{choose.pick(CB_BODIES)}-{serial:07d}"
    regulation, series = product.regulation
    return f"E{choose.pick(E_NUMBERS)} {regulation}R-{series} {serial:07d}"


def amendment(
    choose: Chooser, product: Product, family: str, models: list[str], factories: list[str], ordinal: int
) -> Amendment:
    """The ``ordinal``-th amendment of a certificate with ``models`` and ``factories``.

    An added model or factory never repeats one already listed (``ordinal``
    tells them apart).
    """
    kind = choose.pick(("models", "models", "factories", "scope"))
    if kind == "models":
        added = model(choose, product, family)[0]
        added = added if added not in models else f"{added} rev.{ordinal}"
        return Amendment(kind, added, f"model {added} added")
    if kind == "factories":
        factory = address(choose, choose.pick(COUNTRY_TABLE))
        factory = factory if factory not in factories else f"{factory} (plant {ordinal})"
        return Amendment(kind, factory, f"factory added: {factory}")
    extension = choose.pick(SCOPE_EXTENSIONS)
    return Amendment(kind, extension, f"scope amended: {extension}")
