"""The deterministic demo registry (``szzz demo``): realistic, invented, labelled.

Everything here is **demo data**: the bodies are modelled on real alliance
members but their approval numbers start with ``DEMO-``; the standards'
codes are invented; the enterprises, USCCs (with correct check characters),
GTINs and products are made up; ``meta.demo`` records how the file was made.

Same ``seed`` and ``today`` → same registry content (numbers, names, dates,
histories). Keys are generated fresh each time, so key ids and signatures
differ between runs; everything is signed exactly as in production because
the demo calls the same :class:`registry.store.operations.Registry` methods an
operator would. For speed it runs them inside ``Registry.batch()`` (one
transaction per few thousand operations, each operation in its savepoint).

The timeline is simulated in date order (a heap of pending actions per
certificate), so key rollover, surveillance, suspensions, reinstatements,
revocations, withdrawals, renewals and expiries happen in the order and on
the dates they would have: issue dates spread from 2021-03 to ``today``.
"""

import datetime
import heapq
import random
import sys

from stdnum import ean as stdnum_ean
from stdnum.cn import uscc as stdnum_uscc

from registry.core import clock, lifecycle, reference
from registry.core.exceptions import InvalidValueError, ValidationError
from registry.store import queries, schema, validation
from registry.store.operations import Registry, undone_on_failure

DEMO_PASSPHRASE = "szzz-demo-only"  # documented in docs/cli.md: demo keys only
INIT_DATE = "2020-12-01"
LAUNCH = "2021-03-01"
VALIDITY_YEARS = 3
COMMIT_EVERY = 4000  # operations per transaction
MAX_GTINS = 3000     # GTIN duplicate checks scan products; keep the demo linear

# (code, name zh, name en, website host) — modelled on alliance members; DEMO approval numbers.
BODIES = (
    ("CQC", "中国质量认证中心", "China Quality Certification Centre", "cqc"),
    ("CQM", "方圆标志认证集团有限公司", "China Quality Mark Certification Group", "cqm"),
    ("BV", "必维认证（北京）有限公司", "Bureau Veritas Certification (Beijing) Co., Ltd.", "bv"),
    ("SGS", "通标标准技术服务有限公司", "SGS-CSTC Standards Technical Services Co., Ltd.", "sgs"),
    ("TUVSUD", "南德认证检测（中国）有限公司", "TÜV SÜD Certification and Testing (China) Co., Ltd.",
     "tuvsud"),
    ("TUVRH", "莱茵检测认证服务（中国）有限公司", "TÜV Rheinland (China) Ltd.", "tuvrh"),
    ("JSQS", "江苏省质量和标准化研究院", "Jiangsu Institute of Quality and Standardization", "jsqs"),
    ("SZQI", "苏州市产品质量监督检验院", ("Suzhou Institute of Product Quality Supervision and "
     "Inspection"), "szqi"),
)
ROLLOVER_BODY = "CQM"  # its first key is retired half-way through the timeline

GENERAL = ("DB3205/T 1001-2021", "“苏州制造”品牌认证通用要求",
           "General requirements for 'Made in Suzhou' brand certification")

# Industry templates: (GB/T 4754 code, programme, group standard title zh/en,
# enterprise suffix zh/en, products [(zh, en, model prefix)], consumer goods?)
TEMPLATES = (
    ("C3421", "SZZZ", "数控金属切削机床", "CNC metal-cutting machine tools", "精密机床", "Precision Machine Tool",
     [("数控车床", "CNC lathe", "CK"), ("立式加工中心", "Vertical machining centre", "VMC")], False),
    ("C3491", "SZZZ", "工业机器人", "Industrial robots", "机器人", "Robotics",
     [("六轴工业机器人", "Six-axis industrial robot", "SR"), ("协作机器人", "Collaborative robot", "CR")], False),
    ("C3825", "SZZZ", "晶体硅光伏组件", "Crystalline silicon PV modules", "新能源", "New Energy",
     [("单晶硅光伏组件", "Monocrystalline PV module", "PV"), ("双面光伏组件", "Bifacial PV module", "BF")],
     False),
    ("C3982", "SZZZ", "高密度互连印制电路板", "HDI printed circuit boards", "电子", "Electronics",
     [("高密度互连印制电路板", "HDI printed circuit board", "HDI"), ("柔性电路板", "Flexible circuit board",
                                                                    "FPC")], False),
    ("C3973", "SZZZ", "功率半导体器件", "Power semiconductor devices", "半导体", "Semiconductor",
     [("IGBT功率模块", "IGBT power module", "IG"), ("碳化硅MOSFET", "SiC MOSFET", "SC")], False),
    ("C3670", "SZZZ", "新能源汽车零部件", "Components for new-energy vehicles", "汽车部件", "Auto Parts",
     [("电驱动总成", "Electric drive assembly", "ED"), ("铝合金轮毂", "Aluminium alloy wheel", "AW")], False),
    ("C3841", "SZZZ", "锂离子动力电池", "Lithium-ion traction batteries", "能源科技", "Energy Technology",
     [("磷酸铁锂电池模组", "LFP battery module", "LF"), ("储能电池柜", "Energy storage cabinet", "ES")], False),
    ("C3855", "SZZZ", "家用清洁机器人", "Household cleaning robots", "智能家电", "Smart Appliances",
     [("扫地机器人", "Robot vacuum cleaner", "RV"), ("洗地机", "Wet-dry floor cleaner", "FW")], True),
    ("C3854", "SZZZ", "家用厨房电器", "Household kitchen appliances", "电器", "Electric Appliances",
     [("智能电饭煲", "Smart rice cooker", "RC"), ("嵌入式蒸烤箱", "Built-in steam oven", "SO")], True),
    ("C4011", "SZZZ", "工业自动控制系统", "Industrial automatic control systems", "自动化", "Automation",
     [("可编程控制器", "Programmable logic controller", "PLC"), ("伺服驱动器", "Servo drive", "SD")], False),
    ("C3976", "SZZZ", "光电子器件", "Optoelectronic devices", "光电", "Photonics",
     [("光模块", "Optical transceiver module", "OM"), ("激光器芯片", "Laser diode chip", "LD")], False),
    ("C3581", "SZZZ", "医疗诊断设备", "Medical diagnostic equipment", "医疗科技", "Medical Technology",
     [("彩色多普勒超声诊断仪", "Colour Doppler ultrasound system", "US"), ("监护仪", "Patient monitor", "PM")],
     False),
    ("C3584", "SZZZ", "医用耗材与器械", "Medical consumables and instruments", "医疗器械", "Medical Devices",
     [("一次性使用输液器", "Single-use infusion set", "IS"), ("吻合器", "Surgical stapler", "ST")], False),
    ("C2761", "SZZZ", "生物药品", "Biological medicines", "生物医药", "Biopharma",
     [("单克隆抗体注射液", "Monoclonal antibody injection", "MA")], False),
    ("C3360", "SZZZ", "金属表面处理", "Metal surface treatment", "表面技术", "Surface Technology",
     [("精密镀层零件", "Precision plated part", "PP")], False),
    ("C2922", "SZZZ", "塑料薄膜", "Plastic films", "新材料", "New Materials",
     [("光学膜", "Optical film", "OF"), ("锂电池隔膜", "Battery separator film", "BS")], False),
    ("C3130", "SZZZ", "精品钢材", "High-grade steel products", "特钢", "Special Steel",
     [("汽车用冷轧钢板", "Cold-rolled automotive steel sheet", "CR")], False),
    ("C1530", "SZZZ", "洞庭山碧螺春茶", "Dongting Biluochun tea", "茶业", "Tea",
     [("洞庭山碧螺春", "Dongting Biluochun green tea", "BLC")], True),
    ("C1411", "SZZZ", "苏式糕点", "Suzhou-style pastries", "食品", "Foods",
     [("苏式月饼", "Suzhou-style mooncake", "YB"), ("松子枣泥麻饼", "Pine-nut date pastry", "MB")], True),
    ("C3914", "SZZZ", "工业控制计算机", "Industrial control computers", "工控", "Industrial Computing",
     [("工业平板电脑", "Industrial panel PC", "IPC")], False),
    ("C1752", "SZSC", "苏州丝绸 织物", "Suzhou silk fabrics", "丝绸", "Silk",
     [("真丝宋锦面料", "Song brocade silk fabric", "SJ"), ("桑蚕丝被", "Mulberry silk quilt", "SB")], True),
    ("C1810", "SZSC", "苏州丝绸 服饰", "Suzhou silk apparel", "丝绸服饰", "Silk Apparel",
     [("真丝旗袍", "Silk qipao", "QP"), ("真丝围巾", "Silk scarf", "SF")], True),
    ("C2110", "SSHM", "苏式红木家具", "Suzhou-style rosewood furniture", "红木家具", "Rosewood Furniture",
     [("红木圈椅", "Rosewood horseshoe armchair", "QY"), ("红木书案", "Rosewood writing desk", "SA")], True),
    ("C2436", "SUXIU", "苏绣 刺绣工艺品", "Suzhou embroidery", "刺绣艺术", "Embroidery Art",
     [("双面绣屏风", "Double-sided embroidered screen", "SM"), ("苏绣挂屏", "Embroidered wall panel", "GP")],
     True),
)

# District -> (weight, region code used in USCCs).
DISTRICTS = {
    "苏州工业园区": (18, "320594"), "昆山市": (16, "320583"), "虎丘区": (12, "320505"),
    "吴中区": (10, "320506"), "相城区": (8, "320507"), "吴江区": (10, "320509"),
    "常熟市": (9, "320581"), "张家港市": (8, "320582"), "太仓市": (6, "320585"), "姑苏区": (3, "320508"),
}
WORDS = (
    ("恒立", "Hengli"), ("博瑞", "Borui"), ("华兴", "Huaxing"), ("瑞科", "Ruike"), ("启航", "Qihang"),
    ("中科", "Zhongke"), ("润泽", "Runze"), ("天衡", "Tianheng"), ("远航", "Yuanhang"),
    ("思源", "Siyuan"), ("德润", "Derun"), ("卓越", "Zhuoyue"), ("新锐", "Xinrui"), ("嘉禾", "Jiahe"),
    ("同创", "Tongchuang"), ("长风", "Changfeng"), ("明辉", "Minghui"), ("鼎盛", "Dingsheng"),
    ("鑫达", "Xinda"), ("海川", "Haichuan"), ("云帆", "Yunfan"), ("东吴", "Dongwu"), ("金鸡湖", "Jinjihu"),
    ("阳澄", "Yangcheng"), ("太湖", "Taihu"), ("枫桥", "Fengqiao"), ("沧浪", "Canglang"),
    ("锦绣", "Jinxiu"), ("汇智", "Huizhi"), ("凌云", "Lingyun"), ("晶鼎", "Jingding"), ("精诚", "Jingcheng"),
)
TIERS = (("龙头骨干", 0.10), ("独角兽", 0.03), ("专精特新小巨人", 0.20), ("标准化试点示范", 0.10))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙朱马胡郭林何高罗"
_ORG_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def _uscc(rng, region):
    """A made-up USCC with valid GB 11714 organisation-code and GB 32100 check characters."""
    body = "MA" + "".join(rng.choice(_ORG_ALPHABET) for _ in range(6))
    weights = (3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(_ORG_ALPHABET.index(c) * w for c, w in zip(body, weights, strict=True))
    check = 11 - total % 11
    org = body + ("X" if check == 10 else "0" if check == 11 else str(check))
    head = "91" + region + org
    return head + stdnum_uscc.calc_check_digit(head)


def _gtin(n):
    head = f"69{n:010d}"
    return head + stdnum_ean.calc_check_digit(head)


def _add_days(day, n):
    return (datetime.date.fromisoformat(day) + datetime.timedelta(days=n)).isoformat()


def _add_years(day, years):
    d = datetime.date.fromisoformat(day)
    try:
        return d.replace(year=d.year + years).isoformat()
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28).isoformat()


def _expiry(issued):
    return _add_days(_add_years(issued, VALIDITY_YEARS), -1)


class _Demo:
    def __init__(self, reg, rng, today, certificates, progress):
        self.reg, self.rng, self.today = reg, rng, today
        self.n = certificates
        self.progress = progress
        self.heap = []
        self.counter = 0
        self.cert_nos = []
        self.cert_expires = []
        self.first_revocation_noticed = False
        self.ops = 0
        self.now = LAUNCH

    # ----------------------------------------------------------- reference
    def reference_data(self):
        reg = self.reg
        for code, zh, en, host in BODIES:
            reg.add_body({"code": code, "name_zh": zh, "name_en": en,
                          "approval_no": f"DEMO-CNCA-R-2021-{BODIES.index((code, zh, en, host)) + 1:03d}",
                          "website": f"https://www.{host}.demo.example", "joined": INIT_DATE})
            reg.endorse_key(reg.generate_key("body", body=code, valid_from=INIT_DATE), date=INIT_DATE)
        reg.add_standard({"code": GENERAL[0], "title_zh": GENERAL[1], "title_en": GENERAL[2],
                          "kind": "general", "issuer": "苏州市市场监督管理局（演示数据）",
                          "published": "2021-01-15", "effective": "2021-02-01"})
        for i, t in enumerate(TEMPLATES, start=1):
            year = 2021 if i <= 16 else 2022
            reg.add_standard({"code": self.standard_code(i), "title_zh": f"“苏州制造”认证技术要求 {t[2]}",
                              "title_en": f"Technical requirements for 'Made in Suzhou': {t[3]}",
                              "kind": "group", "issuer": "苏州市质量品牌促进会（演示数据）",
                              "published": f"{year - 1}-12-20", "effective": f"{year}-01-01"})

    @staticmethod
    def standard_code(i):
        return f"T/SZS {i:03d}-{2021 if i <= 16 else 2022}"

    def enterprises_and_products(self):
        reg, rng = self.reg, self.rng
        names = list(DISTRICTS)
        weights = [DISTRICTS[d][0] for d in names]
        n_ent = max(300, self.n * 3 // 10)
        # About one enterprise in eight is in a traditional craft programme.
        modern = [i for i, t in enumerate(TEMPLATES) if t[1] == "SZZZ"]
        craft = [i for i, t in enumerate(TEMPLATES) if t[1] != "SZZZ"]
        self.enterprises = []
        used = set()
        for e in range(n_ent):
            district = rng.choices(names, weights)[0]
            tpl = rng.choice(craft) if rng.random() < 0.12 else rng.choice(modern)
            t = TEMPLATES[tpl]
            word_zh, word_en = rng.choice(WORDS)
            name_zh = f"苏州{word_zh}{t[4]}有限公司"
            name_en = f"Suzhou {word_en} {t[5]} Co., Ltd."
            if name_zh in used:
                place = district.removesuffix("市").removesuffix("区")
                name_zh = f"苏州{word_zh}{t[4]}（{place}）有限公司"
                name_en = f"Suzhou {word_en} {t[5]} ({reference.DISTRICTS[district].split(' (')[0]}) Co., Ltd."
            if name_zh in used:
                name_zh = name_zh.replace("有限公司", f"第{e}分厂有限公司")
                name_en = name_en.replace(" Co., Ltd.", f" Plant {e} Co., Ltd.")
            used.add(name_zh)
            tier = None
            roll = rng.random()
            for tier_name, p in TIERS:
                if roll < p:
                    tier = tier_name
                    break
                roll -= p
            uscc = _uscc(rng, DISTRICTS[district][1])
            host = f"{word_en.lower()}{e}"
            reg.add_enterprise(
                {"uscc": uscc, "name_zh": name_zh, "name_en": name_en, "district": district,
                 "industry": t[0], "tier": tier, "website": f"https://www.{host}.demo.example"},
                contact={"contact_name": f"{rng.choice(SURNAMES)}经理",
                         "phone": f"0512-6{rng.randrange(10**6, 10**7):07d}",
                         "email": f"quality@{host}.demo.example",
                         "address": f"苏州市{district}演示路{rng.randrange(1, 999)}号"})
            self.enterprises.append((uscc, tpl))
            self.tick()
        self.products = []
        gtins = 0
        for p in range(self.n):
            uscc, tpl = self.enterprises[p % n_ent]
            t = TEMPLATES[tpl]
            zh, en, prefix = t[6][(p // n_ent) % len(t[6])]
            series = (p // n_ent) + 1
            models = [f"{prefix}-{series}{k}00" for k in range(1, rng.randrange(2, 5))]
            gtin = None
            if t[7] and gtins < MAX_GTINS and rng.random() < 0.7:
                gtins += 1
                gtin = _gtin(p + 1)
            pid = reg.add_product({
                "enterprise": uscc, "name_zh": f"{zh}（{models[0]}系列）",
                "name_en": f"{en} ({models[0]} series)", "models": models, "gtin": gtin,
                "category": t[2], "description": f"{zh}，演示数据。{en}, demo data."})
            self.products.append((pid, tpl, models))
            self.tick()

    # ------------------------------------------------------------ timeline
    def push(self, date, priority, action, *args):
        if date > self.today:
            return  # in the future: does not happen in this registry
        date = max(date, self.now)  # never schedule into the simulated past
        self.counter += 1
        heapq.heappush(self.heap, (date, priority, self.counter, action, args))

    def tick(self):
        self.ops += 1
        if self.ops % COMMIT_EVERY == 0:
            self.reg.commit_batch()

    def issue_dates(self):
        start = datetime.date.fromisoformat(LAUNCH)
        span = (datetime.date.fromisoformat(self.today) - start).days
        if span < 1:
            raise ValueError(f"demo today {self.today} must be after {LAUNCH}")
        # More certificates in later years (the scheme grows): density ~ t^0.25.
        days = sorted(int(span * (self.rng.random() ** 0.8)) for _ in range(self.n))
        return [(start + datetime.timedelta(days=d)).isoformat() for d in days]

    def run(self):
        dates = self.issue_dates()
        span_mid = _add_days(LAUNCH, (datetime.date.fromisoformat(self.today)
                                      - datetime.date.fromisoformat(LAUNCH)).days // 2)
        self.push(LAUNCH, 0, self.notice_launch)
        self.push(span_mid, 0, self.key_rollover)
        self.push(_add_days(span_mid, 45), 2, self.notice_counterfeit)
        self.push(_add_days(self.today, -20), 2, self.notice_results)
        bar = _progress(self.n, self.progress)
        i = 0
        while i < len(dates) or self.heap:
            if i < len(dates) and (not self.heap or dates[i] < self.heap[0][0]
                                   or (dates[i] == self.heap[0][0] and self.heap[0][1] > 1)):
                self.now = dates[i]
                self.issue(i, dates[i])
                i += 1
                bar.update(1)
            else:
                date, _, _, action, args = heapq.heappop(self.heap)
                self.now = date
                action(date, *args)
            self.tick()
        bar.close()

    def status(self, c):
        return self.reg.db.execute("select status, expires from certificates where cert_no = ?",
                                   [self.cert_nos[c]]).fetchone()

    def issue(self, i, date):
        rng = self.rng
        pid, tpl, models = self.products[i]
        t = TEMPLATES[tpl]
        body = rng.choice(BODIES)[0]
        expires = _expiry(date)
        scope = f"{t[6][0][0]}等产品（型号：{'、'.join(models)}）的设计、开发和生产"
        evaluation = {k: rng.randrange(72, 99) for k in reference.EVALUATION_DIMENSIONS}
        no = self.reg.issue(product=pid, body=body, programme=t[1], issued=date, expires=expires,
                            standards=[GENERAL[0], self.standard_code(tpl + 1)], scope=scope,
                            # The scheme authorises every certified product to use the mark
                            # free of charge (苏府〔2020〕128号 四(五)), so every demo
                            # certificate has a printable mark.
                            evaluation=evaluation, mark_authorised=True)
        self.cert_nos.append(no)
        self.next_step(i, date, expires)

    def next_step(self, c, date, expires):
        after = _add_days(date, 365 + self.rng.randrange(-20, 20))
        if after <= _add_days(expires, -60):
            self.push(after, 3, self.surveil, c)
        else:
            self.push(_add_days(expires, -self.rng.randrange(10, 45)), 3, self.end_of_term, c)

    def surveil(self, date, c):
        reg, rng, no = self.reg, self.rng, self.cert_nos[c]
        status, expires = self.status(c)
        if status != lifecycle.VALID:
            return
        roll = rng.random()
        if roll < 0.05:
            reg.record_surveillance(no, False, date=date,
                                    reason="监督审核发现产品一致性不符合要求 product conformity failure")
            self.push(_min(_add_days(date, rng.randrange(20, 90)), expires), 3, self.resolve, c)
            return
        if roll < 0.07:
            reg.suspend(no, "市场监管抽查不合格 failed a market-supervision spot check", date=date,
                        notice="暂停期间不得使用认证标志。The mark may not be used while suspended.")
            self.push(_min(_add_days(date, rng.randrange(20, 90)), expires), 3, self.resolve, c)
            return
        if roll < 0.085:
            reg.revoke(no, "冒用认证标志，情节严重 serious misuse of the certification mark", date=date,
                       notice="撤销后不得再使用认证标志。")
            self.notice_revocation(date, c)
            return
        if roll < 0.10:
            reg.withdraw(no, "企业申请注销 withdrawn at the holder's request", date=date)
            return
        reg.record_surveillance(no, True, date=date)
        if roll < 0.14:
            _, _, models = self.products[c]
            reg.change_scope(no, f"产品（型号：{'、'.join(models)}、{models[0]}E）的设计、开发和生产",
                             "扩大认证范围：新增型号 scope extended with a new model", date=date)
        self.next_step(c, date, expires)

    def resolve(self, date, c):
        status, expires = self.status(c)
        if status != lifecycle.SUSPENDED:
            return
        no = self.cert_nos[c]
        if self.rng.random() < 0.75:
            self.reg.reinstate(no, "整改完成并经验证 corrective actions verified", date=date)
            self.next_step(c, date, expires)
        else:
            self.reg.revoke(no, "暂停期满未完成整改 not corrected within the suspension period",
                            date=date)
            self.notice_revocation(date, c)

    def end_of_term(self, date, c):
        status, expires = self.status(c)
        if status == lifecycle.VALID and self.rng.random() < 0.65:
            new_expires = _expiry(date)
            self.reg.renew(self.cert_nos[c], new_expires, date=date, reason="再认证 recertification")
            self.next_step(c, date, new_expires)
        elif status in (lifecycle.VALID, lifecycle.SUSPENDED):
            self.push(_add_days(expires, 1), 1, self.expire, c)

    def expire(self, date, c):
        status, expires = self.status(c)
        if status not in (lifecycle.VALID, lifecycle.SUSPENDED):
            return
        last = self.reg.db.execute(
            "select e.date from events e join certificates c on c.last_seq = e.seq "
            "where c.cert_no = ?", [self.cert_nos[c]]).fetchone()[0]
        self.reg.expire_one(self.cert_nos[c], expires, last)
        if self.rng.random() < 0.2:
            self.push(_add_days(date, self.rng.randrange(30, 120)), 3, self.late_renew, c)

    def late_renew(self, date, c):
        status, _ = self.status(c)
        if status == lifecycle.EXPIRED:
            expires = _expiry(date)
            self.reg.renew(self.cert_nos[c], expires, date=date,
                           reason="过期后重新认证 recertified after expiry")
            self.next_step(c, date, expires)

    # ------------------------------------------------------- keys, notices
    def key_rollover(self, date):
        reg = self.reg
        old = reg.db.execute("select key_id from keys where owner = ? and status = 'active'",
                             [ROLLOVER_BODY]).fetchone()[0]
        new = reg.generate_key("body", body=ROLLOVER_BODY, valid_from=date)
        reg.endorse_key(new, date=date)
        reg.retire_key(old, date=date, reason="定期更换签名密钥 scheduled key rollover")

    def notice_launch(self, date):
        self.reg.publish_notice(
            "notice", "“苏州制造”品牌认证工作启动（演示数据）",
            "“苏州制造”品牌认证联盟成员机构开始受理企业自愿申报。本登记册为演示数据。",
            title_en="'Made in Suzhou' brand certification launched (demo data)",
            text_en="Alliance certification bodies now accept voluntary applications. "
                    "This registry is demo data.", date=date)

    def notice_counterfeit(self, date):
        no = self.cert_nos[0] if self.cert_nos else None
        self.reg.publish_notice(
            "counterfeit_alert", "关于假冒“苏州制造”认证标志的警示（演示数据）",
            "市场监管部门在电商平台发现冒用他人证书编号的假冒认证标志。请扫描标志二维码核验："
            "页面显示“有效”且证书信息与产品一致方为真实。",
            title_en="Alert: counterfeit 'Made in Suzhou' marks (demo data)",
            text_en="Counterfeit marks copying another holder's certificate number were found on "
                    "online marketplaces. Scan the QR code: only a 'valid' verdict with matching "
                    "product details proves a genuine mark.", cert_no=no, date=date)

    def notice_revocation(self, date, c):
        if self.first_revocation_noticed:
            return
        self.first_revocation_noticed = True
        no = self.cert_nos[c]
        self.reg.publish_notice(
            "supervision", f"关于撤销证书 {no} 的通报（演示数据）",
            f"经监督检查，证书 {no} 被撤销，持证企业自即日起不得使用“苏州制造”认证标志。",
            title_en=f"Certificate {no} revoked (demo data)",
            text_en=f"After supervision, certificate {no} was revoked; the holder may no longer "
                    "use the mark.", cert_no=no, date=date)

    def notice_results(self, date):
        self.reg.publish_notice(
            "supervision", "年度监督抽查结果通报（演示数据）",
            "本年度对获证产品开展监督抽查，不合格产品的证书已依规暂停或撤销，详见各证书历史记录。",
            title_en="Annual supervision spot checks (demo data)",
            text_en="Certificates of products that failed were suspended or revoked; see each "
                    "certificate's history.", date=date)

    def applications(self):
        reg, rng = self.reg, self.rng
        picks = [self.enterprises[k * 37 % len(self.enterprises)] for k in range(4)]
        plan = (("received", -5), ("received", -12), ("under_evaluation", -40), ("rejected", -90))
        for (uscc, tpl), (status, days) in zip(picks, plan, strict=True):
            t = TEMPLATES[tpl]
            app = reg.add_application(uscc, f"{t[6][-1][0]}（新型号）", programme=t[1],
                                      body=rng.choice(BODIES)[0],
                                      received=_add_days(self.today, days))
            if status in ("under_evaluation", "rejected"):
                reg.decide_application(app, "under_evaluation", date=_add_days(self.today, days + 7))
            if status == "rejected":
                reg.decide_application(app, "rejected", date=_add_days(self.today, days + 60),
                                       note="品质高端维度评价未达要求（演示数据）")


def _min(a, b):
    return a if a <= b else b


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def _progress(total, enabled):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm
    return tqdm(total=total, unit="cert", file=sys.stderr, desc="demo certificates")


def build(db_path, keys_dir, *, certificates=1000, seed=1, today=None, passphrase=None,
          progress=False):
    """Build the demo registry at ``db_path`` (must not exist); return a summary dict.

    ``today`` (YYYY-MM-DD, default :func:`clock.today`) is the registry's
    "now": nothing is dated after it. ``passphrase`` (bytes) protects the
    generated key files; default ``SZZZ_PASSPHRASE`` or ``DEMO_PASSPHRASE``.
    """
    if certificates < 1 or certificates > 1_000_000:
        raise ValueError(f"certificates must be 1..1000000, observed {certificates}")
    try:
        today = validation.iso_date(today) or clock.today().isoformat()
    except InvalidValueError as e:
        raise ValidationError(e.message, record="demo", field="today") from None
    if today <= LAUNCH:
        raise ValidationError(f"observed {today}, expected a day after the scheme's launch on {LAUNCH}",
                              record="demo", field="today")
    if passphrase is None:
        passphrase = DEMO_PASSPHRASE.encode()
    rng = random.Random(f"szzz-demo:{seed}")
    with undone_on_failure(db_path, keys_dir):     # a demo that fails leaves nothing behind
        reg = Registry.init(db_path, keys_dir, passphrase, date=INIT_DATE)
        try:
            reg.today_override = today
            demo = _Demo(reg, rng, today, certificates, progress)
            with reg.batch():
                schema.set_meta(reg.db, "demo", f"szzz demo --seed {seed} --today {today} "
                                                f"--certificates {certificates} (demo data)")
                demo.reference_data()
                demo.enterprises_and_products()
                demo.run()
                reg.expire_due(today)
                demo.applications()
            summary = queries.counts(reg.db)
            summary["sample"] = demo.cert_nos[:3]
            return summary
        finally:
            reg.close()
