"""Industry codes of GB/T 4754-2017 (国民经济行业分类) that the registry accepts.

A code is a section letter followed by 2 to 4 digits: the division (2
digits), group (3) or class (4), e.g. ``C35`` (专用设备制造业), ``C356``,
``C3562``. The scheme certifies *manufactured* products (苏府〔2020〕128号:
"推动苏州制造业转型升级"), so an enterprise's industry must lie in section C,
divisions 13–43. The portal shows the division names below, so they live in
one place here.
"""

import re

MANUFACTURING_SECTION = "C"

# Division (2 digits) -> (name zh, name en), GB/T 4754-2017 section C.
MANUFACTURING_DIVISIONS = {
    "13": ("农副食品加工业", "Processing of food from agricultural products"),
    "14": ("食品制造业", "Manufacture of foods"),
    "15": ("酒、饮料和精制茶制造业", "Manufacture of liquor, beverages and refined tea"),
    "16": ("烟草制品业", "Manufacture of tobacco"),
    "17": ("纺织业", "Manufacture of textiles"),
    "18": ("纺织服装、服饰业", "Manufacture of textile wearing apparel and accessories"),
    "19": ("皮革、毛皮、羽毛及其制品和制鞋业",
           "Manufacture of leather, fur, feathers and related products; footwear"),
    "20": ("木材加工和木、竹、藤、棕、草制品业",
           "Processing of timber; wood, bamboo, rattan, palm and straw products"),
    "21": ("家具制造业", "Manufacture of furniture"),
    "22": ("造纸和纸制品业", "Manufacture of paper and paper products"),
    "23": ("印刷和记录媒介复制业", "Printing and reproduction of recording media"),
    "24": ("文教、工美、体育和娱乐用品制造业",
           "Manufacture of articles for culture, education, arts and crafts, sport and entertainment"),
    "25": ("石油、煤炭及其他燃料加工业", "Processing of petroleum, coal and other fuels"),
    "26": ("化学原料和化学制品制造业", "Manufacture of chemical raw materials and chemical products"),
    "27": ("医药制造业", "Manufacture of medicines"),
    "28": ("化学纤维制造业", "Manufacture of chemical fibres"),
    "29": ("橡胶和塑料制品业", "Manufacture of rubber and plastic products"),
    "30": ("非金属矿物制品业", "Manufacture of non-metallic mineral products"),
    "31": ("黑色金属冶炼和压延加工业", "Smelting and pressing of ferrous metals"),
    "32": ("有色金属冶炼和压延加工业", "Smelting and pressing of non-ferrous metals"),
    "33": ("金属制品业", "Manufacture of metal products"),
    "34": ("通用设备制造业", "Manufacture of general-purpose machinery"),
    "35": ("专用设备制造业", "Manufacture of special-purpose machinery"),
    "36": ("汽车制造业", "Manufacture of automobiles"),
    "37": ("铁路、船舶、航空航天和其他运输设备制造业",
           "Manufacture of railway, ship, aerospace and other transport equipment"),
    "38": ("电气机械和器材制造业", "Manufacture of electrical machinery and equipment"),
    "39": ("计算机、通信和其他电子设备制造业",
           "Manufacture of computers, communication and other electronic equipment"),
    "40": ("仪器仪表制造业", "Manufacture of measuring instruments and meters"),
    "41": ("其他制造业", "Other manufacturing"),
    "42": ("废弃资源综合利用业", "Comprehensive use of waste resources"),
    "43": ("金属制品、机械和设备修理业", "Repair of metal products, machinery and equipment"),
}

# Sections of GB/T 4754-2017 with their division ranges, so that a code from
# another section is named in the error instead of being called "malformed".
SECTIONS = {
    "A": ("农、林、牧、渔业", 1, 5),
    "B": ("采矿业", 6, 12),
    "C": ("制造业", 13, 43),
    "D": ("电力、热力、燃气及水生产和供应业", 44, 46),
    "E": ("建筑业", 47, 50),
    "F": ("批发和零售业", 51, 52),
    "G": ("交通运输、仓储和邮政业", 53, 60),
    "H": ("住宿和餐饮业", 61, 62),
    "I": ("信息传输、软件和信息技术服务业", 63, 65),
    "J": ("金融业", 66, 69),
    "K": ("房地产业", 70, 70),
    "L": ("租赁和商务服务业", 71, 72),
    "M": ("科学研究和技术服务业", 73, 75),
    "N": ("水利、环境和公共设施管理业", 76, 79),
    "O": ("居民服务、修理和其他服务业", 80, 82),
    "P": ("教育", 83, 83),
    "Q": ("卫生和社会工作", 84, 85),
    "R": ("文化、体育和娱乐业", 86, 90),
    "S": ("公共管理、社会保障和社会组织", 91, 96),
    "T": ("国际组织", 97, 97),
}

CODE_RE = re.compile(r"([A-T])(\d{2,4})")


def division_of(code: str) -> str:
    """The 2-digit division of a well-formed code (``"C3562"`` -> ``"35"``)."""
    return code[1:3]


def division_name(code: str | None) -> tuple[str, str] | None:
    """(name zh, name en) of a manufacturing code's division, or None."""
    if not code or len(code) < 3:
        return None
    return MANUFACTURING_DIVISIONS.get(division_of(code))
