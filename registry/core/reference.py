"""Reference data of the scheme: districts, tiers, programmes, the five
evaluation dimensions and the code lists of the registry's fields.

What the scheme's founding notice (苏府〔2020〕128号) and the registry's tables
fix once: validation accepts exactly these values, the public database
publishes them as reference tables, and the site labels them in Chinese and
English.
"""

from registry.core import lifecycle

# Reference data: Suzhou's ten county-level areas (苏州市辖 5 区 + 4 县级市 +
# 苏州工业园区; 苏州高新区 is administratively 虎丘区).
DISTRICTS = {
    "姑苏区": "Gusu District",
    "虎丘区": "Huqiu District (Suzhou New District / 苏州高新区)",
    "吴中区": "Wuzhong District",
    "相城区": "Xiangcheng District",
    "吴江区": "Wujiang District",
    "苏州工业园区": "Suzhou Industrial Park",
    "常熟市": "Changshu",
    "张家港市": "Zhangjiagang",
    "昆山市": "Kunshan",
    "太仓市": "Taicang",
}
DISTRICT_ALIASES = {"苏州高新区": "虎丘区", "高新区": "虎丘区", "园区": "苏州工业园区"}

TIERS = {
    "龙头骨干": "Leading backbone enterprise",
    "独角兽": "Unicorn enterprise",
    "专精特新小巨人": "Specialised and sophisticated 'little giant'",
    "标准化试点示范": "Standardisation pilot/demonstration enterprise",
}

# Programme code (used in certificate numbers) -> (name zh, name en).
PROGRAMMES = {
    "SZZZ": ("苏州制造", "Made in Suzhou"),
    "SZSC": ("苏州丝绸", "Suzhou Silk"),
    "SSHM": ("苏式红木家具", "Suzhou-style Rosewood Furniture"),
    "SUXIU": ("苏绣", "Suzhou Embroidery"),
}
DEFAULT_PROGRAMME = "SZZZ"

# The five evaluation dimensions of the scheme (苏府〔2020〕128号, 三、工作目标).
EVALUATION_DIMENSIONS = {
    "innovation": ("自主创新", "Independent innovation"),
    "quality": ("品质高端", "High-end quality"),
    "service": ("服务优质", "Excellent service"),
    "reputation": ("信誉过硬", "Solid reputation"),
    "recognition": ("市场公认", "Market recognition"),
}

CERTIFICATE_STATUSES = lifecycle.STATUSES
KEY_OWNER_TYPES = ("root", "body", "log", "timestamp")
KEY_STATUSES = ("active", "retired", "compromised")
APPLICATION_STATUSES = ("received", "under_evaluation", "approved", "rejected")
NOTICE_KINDS = ("notice", "counterfeit_alert", "supervision")
STANDARD_KINDS = ("general", "group", "national", "industry", "local")
