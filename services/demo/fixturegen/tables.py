"""Invented but realistic vocabulary of fixture certificates: products, standards, places.

Company names are made up; standards, regulations and schemes are real. A
standard written as ``(old, new, "YYYY-MM-DD")`` is cited in its new edition
by certificates whose validity starts on or after that day.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        details=("3-phase 400 V AC input, IP54, outdoor use", "3-phase 380 V AC input, IP55, liquid-cooled cable",
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
        details=("Type 2 socket-outlet, IP54, wall or pedestal mounting", "tethered cable with Type 2 connector, IP55",
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
                 "snow tyre marking 3PMSF, wet grip class B", "reinforced (extra load), low rolling resistance"),
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

#: Validity in years by scheme.
VALIDITY_YEARS = {"CCC": 5, "CQC": 5, "CB": 3, "E-mark": 4}
#: National certification bodies that prefix CB test certificate numbers.
CB_BODIES = ("CN", "DE", "DK", "FR", "JP", "KR", "US")
#: E-mark approval authority numbers (E1 Germany, E2 France, E4 Netherlands, ...).
E_NUMBERS = ("1", "2", "3", "4", "5", "9", "11", "13")

# (country, weight, cities, streets, legal form, invented name roots)
COUNTRIES = (
    ("China", 10, ("Shenzhen, Guangdong", "Suzhou, Jiangsu", "Ningde, Fujian", "Hefei, Anhui", "Changzhou, Jiangsu"),
     ("Keji Road", "Xinghu Street", "Huangshan Road", "Jinji Avenue"), "Co., Ltd.",
     ("Huaxin", "Jinrui", "Hengtai", "Zhongke", "Tianyi", "Xinda", "Ruineng", "Guangyu", "Boyuan", "Kaixin")),
    ("Germany", 4, ("Stuttgart", "Nuremberg", "Dresden", "Hanover"),
     ("Industriestraße", "Siemensstraße", "Am Gewerbepark"), "GmbH",
     ("Rheinwerk", "Elbtal", "Nordwerk", "Voltara", "Bergmann")),
    ("Japan", 3, ("Nagoya, Aichi", "Hamamatsu, Shizuoka", "Kumamoto"), ("Kogyo-dori", "Minato-machi"),
     "Co., Ltd.", ("Kitamura", "Aoba", "Tokai", "Sakuragi")),
    ("Republic of Korea", 3, ("Cheongju", "Ulsan", "Suwon"), ("Sandan-ro", "Techno 2-ro"), "Co., Ltd.",
     ("Daehan", "Hanbit", "Seoyeon")),
    ("United States", 2, ("Fremont, CA", "Greenville, SC", "Austin, TX"),
     ("Industrial Parkway", "Commerce Drive"), "Inc.", ("Brightline", "Redwood", "Keystone")),
    ("France", 1, ("Lyon", "Clermont-Ferrand"), ("Rue de l'Industrie", "Avenue des Frères Lumière"), "SAS",
     ("Valcourt", "Lumiane")),
    ("Italy", 1, ("Turin", "Bergamo"), ("Via dell'Industria", "Corso Europa"), "S.p.A.", ("Ferrante", "Adriatica")),
    ("Hungary", 1, ("Debrecen", "Győr"), ("Ipari út", "Határ út"), "Kft.", ("Tisza", "Pannon")),
    ("Poland", 1, ("Wrocław", "Gliwice"), ("ulica Przemysłowa", "ulica Fabryczna"), "Sp. z o.o.", ("Wisła", "Odra")),
    ("Thailand", 1, ("Rayong", "Chonburi"), ("Eastern Seaboard Industrial Estate", "Amata City Industrial Estate"),
     "Co., Ltd.", ("Siam", "Chao Phraya")),
    ("Viet Nam", 1, ("Hai Phong", "Bac Ninh"), ("VSIP Road", "Yen Phong Industrial Park"), "Co., Ltd.",
     ("Hong Lam", "Lac Viet")),
    ("Mexico", 1, ("Monterrey, Nuevo León", "Querétaro"), ("Parque Industrial Stiva", "Avenida de la Industria"),
     "S.A. de C.V.", ("Sierra Madre", "Bajío")),
    ("India", 1, ("Pune, Maharashtra", "Chennai, Tamil Nadu"), ("MIDC Chakan", "SIPCOT Industrial Park"),
     "Pvt. Ltd.", ("Sahyadri", "Kaveri")),
)  # fmt: skip

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
