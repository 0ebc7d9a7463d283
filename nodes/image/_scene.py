"""Reading a prompt for the draft keyframe: which setting, light, weather, subjects and framing it names.

Pure keyword matching (no models): enough for an animatic frame a storyboard artist recognises.
Words in the negative prompt remove what they name ("no people" -> ``people`` in the negative).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# word -> tag. Plurals are matched by stripping a trailing "s"/"es" (see _words).
_TAGS: dict[str, tuple[str, ...]] = {
    # light / time of day
    "time:dawn": ("dawn", "sunrise", "daybreak", "morning"),
    "time:day": ("day", "daylight", "noon", "midday", "sunny", "sunlit", "afternoon", "bright", "clear"),
    "time:dusk": ("dusk", "sunset", "twilight", "evening", "sundown", "golden"),
    "time:night": ("night", "midnight", "nighttime", "moon", "moonlight", "moonlit", "dark", "darkness",
                   "neon", "nocturnal"),
    # weather
    "rain": ("rain", "rainy", "raining", "drizzle", "downpour", "streaking", "wet"),
    "storm": ("storm", "stormy", "thunder", "lightning", "tempest", "gale"),
    "snow": ("snow", "snowy", "snowing", "blizzard", "winter", "frost", "icy", "ice"),
    "snowfall": ("snowing", "blizzard", "snowfall", "snowflake", "snowflakes", "flurries", "falling"),
    "fog": ("fog", "foggy", "mist", "misty", "haze", "hazy", "smoke"),
    "cloud": ("cloud", "cloudy", "overcast", "grey", "gray"),
    # settings
    "interior": ("room", "kitchen", "bedroom", "office", "interior", "inside", "indoors", "hall", "hallway",
                 "corridor", "bar", "cafe", "café", "restaurant", "library", "studio", "lab",
                 "laboratory", "classroom", "attic", "cabin", "stairs", "staircase", "apartment",
                 "living", "bathroom", "shop", "store", "museum", "church", "temple", "cellar",
                 "basement", "garage", "warehouse", "theater", "theatre", "diner", "window", "indoor"),
    "forest": ("forest", "wood", "woods", "woodland", "jungle", "pine", "pines", "grove", "trees"),
    "tree": ("tree", "oak", "willow", "orchard", "park", "garden"),
    "city": ("city", "cities", "street", "town", "skyline", "building", "buildings", "skyscraper",
             "downtown", "alley", "rooftop", "village", "urban", "avenue", "metropolis"),
    "water": ("sea", "ocean", "lake", "river", "wave", "waves", "beach", "shore", "harbour", "harbor",
              "bay", "coast", "surf", "pier", "water", "boat", "ship", "sailboat", "island", "steamer", "liner",
              "freighter", "steamship", "warship", "tanker", "galleon"),
    "beach": ("beach", "sand", "sandy", "shore", "dune"),
    "mountain": ("mountain", "mountains", "peak", "peaks", "hill", "hills", "cliff", "cliffs", "valley",
                 "ridge", "canyon", "alps", "volcano"),
    "desert": ("desert", "dune", "dunes", "sahara", "wasteland"),
    "field": ("field", "meadow", "grass", "prairie", "farm", "plain", "plains", "countryside"),
    "road": ("road", "highway", "path", "street", "track", "railway", "trail", "lane", "bridge"),
    "space": ("space", "galaxy", "planet", "nebula", "cosmos", "starship", "astronaut", "asteroid"),
    "stars": ("star", "stars", "starry", "milky"),
    "lighthouse": ("lighthouse", "beacon", "beam"),
    "fire": ("fire", "campfire", "flame", "flames", "bonfire", "explosion", "burning", "ablaze", "fireplace"),
    "lamp": ("lantern", "lamp", "lamplight", "streetlamp", "lamppost",
              "candle", "candles", "torch", "torchlight", "candlelight", "flashlight"),
    # subjects
    "person": ("man", "woman", "girl", "boy", "child", "kid", "person", "figure", "he", "she", "hero",
               "heroine", "detective", "soldier", "knight", "king", "queen", "keeper", "stranger",
               "traveller", "traveler", "mother", "father", "friend", "doctor", "pilot", "driver",
               "character", "wizard", "witch", "girlfriend", "boyfriend", "lady", "gentleman", "guard",
               "runner", "dancer", "singer", "astronaut", "captain", "sailor", "farmer", "student",
               "teacher", "officer", "thief", "hunter", "warrior", "robot", "monk", "priest", "nurse",
               "rider", "horseman", "cowboy", "cowgirl", "jockey", "climber", "hiker", "fisherman", "sheriff"),
    "people": ("people", "crowd", "couple", "family", "friends", "together", "group", "team", "both",
               "they", "pair", "men", "women", "children", "kids", "soldiers", "everyone"),
    "animal": ("fox", "dog", "cat", "wolf", "horse", "deer", "bear", "cow", "lion", "tiger", "rabbit",
               "hare", "puppy", "kitten", "sheep", "goat", "elk", "moose"),
    "bird": ("bird", "birds", "crow", "raven", "eagle", "gull", "seagull", "owl", "hawk", "flock", "dove"),
    "panda": ("panda", "pandas"),  # its own tag: drawn black and white, not as a four-legged silhouette
    "car": ("car", "cars", "taxi", "truck", "van", "jeep", "bus", "motorcycle", "vehicle"),
    "boat": ("boat", "sailboat", "yacht", "canoe", "ferry", "raft", "oars", "rowboat", "vessel"),
    "ship": ("ship", "steamer", "liner", "freighter", "steamship", "warship", "tanker", "galleon"),
    "train": ("train", "locomotive", "tram", "subway", "railcar"),
    # objects
    "table": ("table", "desk", "counter", "tabletop"),
    "flowers": ("flower", "flowers", "bouquet", "blossom", "blossoms", "tulip", "tulips", "daisy",
                "daisies", "lily", "lilies", "roses", "vase", "petals", "sunflower", "sunflowers"),
    "cards": ("card", "cards", "poker", "tarot"),
    # framing and angle
    "frame:close": ("closeup", "close", "portrait", "face", "eyes", "macro", "detail"),
    "frame:medium": ("medium", "waist", "mid"),
    "frame:wide": ("wide", "establishing", "panorama", "panoramic", "vista", "landscape", "aerial",
                   "distant", "far", "overview", "vast"),
    "angle:low": ("low", "towering", "worm"),
    "angle:high": ("high", "aerial", "overhead", "drone", "birdseye"),
}

_WORD_TAGS: dict[str, list[str]] = {}
for _tag, _words_ in _TAGS.items():
    for _w in _words_:
        _WORD_TAGS.setdefault(_w, []).append(_tag)

# colour words -> (hue 0..1, saturation, value)
COLOUR_WORDS: dict[str, tuple[float, float, float]] = {
    "red": (0.0, 0.8, 0.85), "crimson": (0.97, 0.85, 0.75), "scarlet": (0.99, 0.85, 0.9),
    "orange": (0.07, 0.85, 0.95), "amber": (0.1, 0.85, 0.95), "gold": (0.12, 0.75, 0.95),
    "golden": (0.11, 0.7, 0.95), "yellow": (0.15, 0.8, 0.95), "green": (0.33, 0.65, 0.7),
    "emerald": (0.4, 0.7, 0.7), "teal": (0.49, 0.7, 0.7), "cyan": (0.52, 0.7, 0.9),
    "turquoise": (0.47, 0.65, 0.85), "blue": (0.6, 0.7, 0.85), "azure": (0.57, 0.6, 0.95),
    "navy": (0.63, 0.8, 0.45), "indigo": (0.7, 0.7, 0.6), "violet": (0.76, 0.6, 0.8),
    "purple": (0.79, 0.65, 0.7), "magenta": (0.86, 0.75, 0.85), "pink": (0.93, 0.45, 0.95),
    "rose": (0.95, 0.5, 0.9), "neon": (0.85, 0.9, 1.0), "silver": (0.6, 0.08, 0.85),
    "white": (0.6, 0.04, 0.97), "brown": (0.07, 0.6, 0.5), "sepia": (0.09, 0.45, 0.65),
    "autumn": (0.07, 0.8, 0.85), "autumnal": (0.07, 0.8, 0.85), "fall": (0.08, 0.75, 0.85),
    "spring": (0.93, 0.35, 0.95), "copper": (0.06, 0.7, 0.75), "ochre": (0.11, 0.75, 0.8),
}

_NUMBERS = {"two": 2, "three": 3, "four": 4, "five": 5, "both": 2, "couple": 2, "pair": 2, "and": 0}


# Chinese: a built-in bilingual vocabulary rather than a segmenter (jieba). The draft only needs the words
# its English tables know, so forward maximum matching against this list IS the segmentation that matters:
# longer words win ("熊猫" panda before "猫" cat, "火车" train before "火" fire, "马路" road before "马" horse),
# with no 20 MB dictionary, no second of loading and no new dependency. Each line: English words = the
# Chinese words that mean them. Words here that mean nothing to the picture ("马上" at once, "今天" today)
# are listed so that they are not misread as their characters.
_ZH_LINES = """
dawn = 黎明 拂晓 破晓
sunrise = 日出 朝阳
morning = 早晨 清晨 早上 上午
day = 白天 白昼 日间
noon = 中午 正午
afternoon = 下午 午后
sunny = 晴天 晴朗 晴 阳光明媚
sunlit = 阳光 日光 阳光下
bright = 明亮
dusk = 黄昏 傍晚 薄暮
sunset = 日落 夕阳 落日 晚霞
twilight = 暮色
evening = 晚上
golden = 金色 金黄
night = 夜 夜晚 夜里 夜色 夜间 黑夜 晚间
midnight = 午夜 半夜 深夜
moon = 月亮 明月 满月 弯月 月色
moonlight = 月光
dark = 黑暗 昏暗 漆黑
neon = 霓虹 霓虹灯
rain = 雨 下雨 雨中 雨水 大雨 小雨 细雨 暴雨
wet = 湿 潮湿
storm = 暴风雨 风暴 暴风 狂风
thunder = 雷 雷声 雷雨
lightning = 闪电
snow = 雪 雪地 积雪 白雪
snowing = 下雪 飘雪
blizzard = 暴雪 大雪
snowflakes = 雪花
winter = 冬天 冬日 冬季 寒冬
frost = 霜
ice = 冰 冰面 冰雪
fog = 雾 大雾 浓雾 雾气
mist = 薄雾 烟雾
haze = 雾霾
smoke = 烟
cloudy = 多云 阴天 云 云层 乌云
overcast = 阴沉
grey = 灰色 灰蒙蒙
room = 房间 屋子 屋里 家里 家中 室
interior = 室内 屋内
indoors = 里面
kitchen = 厨房
bedroom = 卧室 寝室
office = 办公室
hall = 大厅 礼堂
corridor = 走廊 过道
bar = 酒吧
cafe = 咖啡馆 咖啡厅 咖啡店 茶馆
restaurant = 餐厅 饭店 餐馆
library = 图书馆 书房
studio = 工作室 画室
lab = 实验室
classroom = 教室
attic = 阁楼
cabin = 小屋 木屋
stairs = 楼梯 台阶
apartment = 公寓
living = 客厅
bathroom = 浴室 卫生间
shop = 商店 店 店铺
museum = 博物馆
church = 教堂
temple = 寺庙 庙 寺
basement = 地下室
garage = 车库
warehouse = 仓库
theater = 剧院 戏院 电影院
window = 窗 窗户 窗边 窗前 窗台
forest = 森林 林中 竹林
woods = 树林
jungle = 丛林 雨林
pine = 松树 松林
tree = 树 大树 树下 树木
oak = 橡树
willow = 柳树
orchard = 果园
park = 公园
garden = 花园 庭院 院子
city = 城市 城 都市
street = 街道 街 街头 大街 街上
town = 小镇 镇 城镇
skyline = 天际线
building = 大楼 楼 建筑 高楼
skyscraper = 摩天大楼 摩天楼
downtown = 市中心 闹市
alley = 小巷 巷子 胡同
rooftop = 屋顶 天台 楼顶
village = 村庄 村子 村 乡村
sea = 海 大海 海上 海面
ocean = 海洋
lake = 湖 湖面 湖边 湖泊
river = 河 河流 江 河边 小溪
waves = 波浪 浪 海浪 浪花
beach = 海滩 沙滩
shore = 岸 岸边 海边
coast = 海岸 海岸线
harbor = 港口 港 海港
bay = 海湾
pier = 码头 栈桥
water = 水 水面
island = 岛 小岛 岛屿
sand = 沙 沙子
dunes = 沙丘
mountain = 山 山上 高山 大山 山脉 群山
peak = 山峰 山顶 峰
hill = 山丘 小山 丘陵
cliff = 悬崖 峭壁
valley = 山谷 峡谷
volcano = 火山
desert = 沙漠 荒漠
wasteland = 荒原 废土
field = 田野 田地 麦田
meadow = 草地
prairie = 草原
grass = 草 草丛
farm = 农场 农田
plains = 平原
countryside = 乡下 田园
road = 路 道路 马路 路上
highway = 公路 高速公路
path = 小路 小道
trail = 小径 山路
railway = 铁路 铁轨
bridge = 桥 大桥
space = 太空 外太空
cosmos = 宇宙
galaxy = 星系
planet = 行星 星球
nebula = 星云
starship = 飞船 宇宙飞船
astronaut = 宇航员
asteroid = 小行星
stars = 星星 星 群星 繁星
starry = 星空
milky = 银河
lighthouse = 灯塔
beam = 光束
fire = 火 大火 火光
campfire = 篝火 营火
flame = 火焰
explosion = 爆炸
burning = 燃烧
fireplace = 壁炉
lantern = 灯笼 提灯
lamp = 灯 台灯 油灯 电灯 灯光 路灯 街灯 吊灯
candle = 蜡烛 烛光
torch = 火把
flashlight = 手电筒 手电
man = 男人 男子 老人 男士 老头
woman = 女人 女子 妇女 老妇人 女士 老奶奶
girl = 女孩 姑娘 少女 小女孩
boy = 男孩 少年 小男孩
child = 孩子 儿童 小孩 孩童
person = 人 一个人 某人 路人 画家 作家 专家 工人
he = 他
she = 她
hero = 英雄 主角
detective = 侦探
soldier = 士兵 战士
knight = 骑士
king = 国王
queen = 女王 王后
keeper = 看守人 守塔人 守护者
stranger = 陌生人
traveller = 旅人 旅行者 行人
mother = 母亲 妈妈
father = 父亲 爸爸
friend = 朋友
doctor = 医生
pilot = 飞行员
driver = 司机
wizard = 巫师 法师
witch = 女巫
gentleman = 绅士 先生
guard = 守卫 警卫
dancer = 舞者
singer = 歌手
captain = 船长
sailor = 水手
farmer = 农民 农夫
student = 学生
teacher = 老师 教师
officer = 警察 警官
thief = 小偷
hunter = 猎人
robot = 机器人
monk = 和尚 僧人
nurse = 护士
rider = 骑手
cowboy = 牛仔
fisherman = 渔夫 渔民
people = 人们 众人 行人们 人物们
crowd = 人群 一群人 人潮 群众
couple = 情侣 夫妻 恋人
family = 家人 一家人 家庭 全家
friends = 朋友们 伙伴们
together = 一起 一同 并肩
group = 一群 一伙 一队
team = 团队 队伍
they = 他们 她们
everyone = 大家 所有人
children = 孩子们 儿童们
soldiers = 士兵们
two people = 两人 二人 两个人
fox = 狐狸
dog = 狗 小狗 狗狗 犬
cat = 猫 小猫 猫咪
wolf = 狼
horse = 马 骏马 白马 黑马
rides horse = 骑马 骑着马
deer = 鹿
bear = 熊
cow = 牛 奶牛
lion = 狮子
tiger = 老虎 虎
rabbit = 兔子 兔
sheep = 羊 绵羊
goat = 山羊
panda = 熊猫 大熊猫
bird = 鸟 小鸟 飞鸟
birds = 鸟儿 鸟群 群鸟
crow = 乌鸦
eagle = 鹰 老鹰 雄鹰
gull = 海鸥
owl = 猫头鹰
dove = 鸽子 白鸽
car = 汽车 车 轿车 小汽车 跑车
taxi = 出租车
truck = 卡车 货车
bus = 公交车 公共汽车 巴士
motorcycle = 摩托车 摩托
jeep = 吉普车
boat = 小船 船只 木船 渔船 小舟 舟
sailboat = 帆船
yacht = 游艇
canoe = 独木舟
rowboat = 划艇
rows boat = 划船
ferry = 渡船 渡轮
raft = 木筏 竹筏
ship = 船 大船 轮船 邮轮 货轮 巨轮 海船
warship = 军舰 战舰
train = 火车 列车 高铁 动车 蒸汽火车 地铁
locomotive = 火车头 机车
table = 桌子 桌 餐桌 桌上 桌边 桌前 书桌 桌面
flowers = 花 鲜花 花朵 花束 花瓶 花瓣 玫瑰 郁金香 百合 向日葵 樱花 花丛
cards = 纸牌 扑克 扑克牌 卡片 卡牌 塔罗牌 牌
play cards = 打牌
closeup = 特写 近景 近距离
extreme closeup = 大特写
macro = 微距
face = 脸 脸庞 面孔 脸上
eyes = 眼睛 双眼 眼神
portrait = 肖像
detail = 细节
medium = 中景 半身
wide = 远景 全景 大远景 广角 大全景
establishing = 建立镜头
panorama = 全貌
landscape = 风景 景色
distant = 远处 遥远
vast = 辽阔 广阔 广袤
aerial = 航拍 空中
birdseye = 鸟瞰
overhead = 俯拍 俯视 俯瞰 顶视
low = 仰拍 仰视 低角度
red = 红 红色 红色的
crimson = 深红
orange = 橙 橙色 橘色
gold = 金
yellow = 黄 黄色
green = 绿 绿色
emerald = 翠绿
teal = 青色
cyan = 蓝绿
blue = 蓝 蓝色 蔚蓝
navy = 藏青 深蓝
purple = 紫 紫色
pink = 粉 粉色 粉红
white = 白 白色
silver = 银 银色
brown = 棕 棕色 褐色
autumn = 秋天 秋日 秋季 深秋
spring = 春天 春日 春季
two = 两 两个 两位 两只 两匹
three = 三 三个 三位 三只
four = 四 四个 四位
five = 五 五个 五位
pair = 一对 一双
# for the prompt expander's light, mood, framing and style choices (story.expand_prompt)
screen = 屏幕 显示器
summer = 夏天 夏日 夏季
house = 房子 房屋 家
horizon = 地平线 海平线
hands = 手 双手
fear = 恐惧 害怕 惊恐
alone = 独自 孤身 独自一人
lonely = 孤独 寂寞
empty = 空荡荡 空无一人 空旷
lost = 迷路 迷失
grief = 悲伤 哀伤 悲痛
abandoned = 废弃
cold = 寒冷 冰冷
laugh = 笑 大笑 欢笑
smile = 微笑
joy = 快乐 欢乐 喜悦
happy = 开心 高兴 幸福
play = 玩 玩耍 嬉戏
celebrate = 庆祝
dance = 跳舞 起舞
run = 跑 奔跑 跑步
chase = 追 追逐 追赶
fight = 打斗 战斗 搏斗
escape = 逃跑 逃离 逃
race = 赛跑
flee = 逃命
watch = 看着 注视 凝视 望着 眺望 观看
wait = 等待 等候
remember = 回忆 想起 记得
quiet = 安静 宁静 静静
silent = 沉默 寂静
watercolour = 水彩
painting = 油画 绘画
anime = 动漫 动画 日漫
cartoon = 卡通
sketch = 素描 速写 草图
ink = 水墨
comic = 漫画
pixel = 像素
photo = 照片 摄影
realistic = 写实
documentary = 纪录片
# Words that would otherwise be misread through one of their characters: they mean nothing here.
- = 马上 今天 明天 昨天 天天 每天 一天 当天 天气 人生 客人 别人 花费 开花 花钱 电话 牌子 招牌 品牌
- = 国家 车牌 门牌 车票 月份 星期 明星 上海 明白 烟花 烟火 浪漫 流浪 银行 自行车 单车 车站
"""


def _zh_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in _ZH_LINES.strip().splitlines():
        if line.startswith("#"):
            continue
        english, chinese = (part.strip() for part in line.split("=", 1))
        for word in chinese.split():
            table[word] = "" if english == "-" else english
    return table


ZH_WORDS = _zh_table()
_ZH_LONGEST = max(map(len, ZH_WORDS))
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_ZH_PUNCT = str.maketrans({"。": ". ", "，": ", ", "、": ", ", "；": "; ", "：": ": ", "！": "! ", "？": "? ",
                           "（": " (", "）": ") ", "“": '"', "”": '"', "…": "... "})


# Traditional characters of the words above, read as their simplified forms (a storyboard written in
# Taiwan or Hong Kong reads the same): "熊貓" -> "熊猫", "火車" -> "火车".
_TRADITIONAL_PAIRS = (
    "貓猫鳥鸟馬马車车燈灯雲云紙纸電电樹树霧雾黃黄門门風风閃闪們们個个兩两隻只頭头鏡镜寫写遠远廣广攝摄臉脸場场"
    "間间廳厅廚厨臥卧辦办館馆飯饭圖图書书實实驗验閣阁樓楼衛卫廟庙庫库倉仓劇剧戶户邊边叢丛園园鎮镇際际線线區区頂顶莊庄"
    "灘滩灣湾碼码島岛嶼屿懸悬峽峡廢废麥麦農农鄉乡徑径鐵铁軌轨橋桥飛飞員员營营燒烧爐炉籠笼蠟蜡燭烛兒儿偵侦騎骑國国親亲"
    "媽妈醫医機机師师紳绅長长學学獵猎護护漁渔眾众侶侣戀恋並并夥伙隊队駿骏獅狮綿绵鴉鸦鷹鹰鷗鸥鴿鸽轎轿計计貨货獨独輪轮"
    "軍军艦舰戰战動动遊游鬱郁櫻樱撲扑羅罗離离龐庞雙双細细節节遙遥遼辽闊阔視视紅红綠绿藍蓝銀银對对晝昼陽阳曉晓濕湿陰阴"
    "層层烏乌裡里裏里內内盞盏輛辆張张顆颗雞鸡魚鱼話话見见過过這这熱热氣气時时漢汉鬧闹華华聖圣廈厦滿满彎弯與与發发")
_TRADITIONAL = str.maketrans(dict(zip(_TRADITIONAL_PAIRS[::2], _TRADITIONAL_PAIRS[1::2])))


def segment(run: str) -> list[str]:
    """A run of Han characters cut into the known words (longest first); unknown characters are skipped."""
    out, i = [], 0
    while i < len(run):
        for n in range(min(_ZH_LONGEST, len(run) - i), 0, -1):
            if run[i:i + n] in ZH_WORDS:
                out.append(run[i:i + n])
                i += n
                break
        else:
            i += 1
    return out


def gloss(text: str) -> str:
    """``text`` with its Chinese read into the English words the tables know ("雨夜的街道" -> " rain night
    street "), so every later step reads Chinese and English prompts alike. Latin text is unchanged."""
    if not _HAN.search(text or ""):
        return text or ""
    text = text.translate(_ZH_PUNCT).translate(_TRADITIONAL)
    return _HAN.sub(lambda m: " " + " ".join(w for w in (ZH_WORDS[s] for s in segment(m.group(0))) if w) + " ",
                    text)


@dataclass
class Scene:
    """What the prompt names, as tags, plus the counts and colours the drawing needs."""

    tags: set[str] = field(default_factory=set)
    time: str | None = None  # dawn, day, dusk, night (None: the seed picks the palette)
    framing: str = "default"  # close, medium, wide, default
    angle: str = "eye"  # low, high, eye
    people: int = 0
    animal: str | None = None
    riding: bool = False  # a person on the animal ("a knight rides a horse")
    colours: list[tuple[float, float, float]] = field(default_factory=list)

    def has(self, tag: str) -> bool:
        return tag in self.tags


_PHRASES = [  # camera and lens jargon that would read as scenery, and framing written in two words
    (r"close[- ]up", "closeup"), (r"bird'?s[- ]eye", "birdseye"), (r"medium[- ]closeup", "closeup"),
    (r"medium[- ]wide|medium[- ]long|medium[- ]full", "mediumwide"), (r"depth of field", " "),
    (r"\b(slow|smooth|fast|quick)?\s*(orbit|dolly|pan|tilt|push[- ]in|pull[- ]out|pull[- ]back|tracking)\b[^,.;]*",
     " "),
]


def _words(text: str) -> list[str]:
    text = text.lower()
    for pattern, repl in _PHRASES:
        text = re.sub(pattern, repl, text)
    return re.findall(r"[a-zà-ÿ']+", text)


# "Mara: an old lighthouse keeper, yellow coat." describes a character: its words are no scenery
_CHARACTER_NOTE = re.compile(r"\b[A-Z][\w'-]*:\s[^.\n]*[.\n]?")


def _tags_of(word: str) -> list[str]:
    for w in (word, word[:-1] if word.endswith("s") else None, word[:-2] if word.endswith("es") else None):
        if w and w in _WORD_TAGS:
            return _WORD_TAGS[w]
    return []


_COMMON = {"the", "a", "an", "and", "in", "on", "at", "of", "with", "by", "from", "to", "into", "under",
           "over", "as", "this", "that", "then", "every", "some", "one", "inside", "outside", "later",
           "meanwhile", "suddenly", "cinematic", "shot", "scene", "view", "style", "soft", "moody",
           "photo", "film", "painting", "illustration", "interior", "exterior", "ext", "int", "note", "notes",
           "camera", "lighting", "light", "mood", "lens", "setting", "location", "action", "dialogue",
           "narration", "caption", "characters", "character", "negative", "prompt", "title", "duration",
           "transition", "voice", "music", "sound", "palette", "colours", "colors", "look", "tone"}

_AFTER_NAME = {"in", "at", "on", "with", "is", "was", "and", "looks", "stands", "sits", "runs", "walks",
               "holds", "turns", "climbs", "rows", "smiles", "says", "watches", "waits", "who"}


def _names(text: str) -> set[str]:
    """Character names: capitalised words that are no known word, mid-sentence or before a verb."""
    found: set[str] = set()
    tokens = re.findall(r"[A-Za-z']+|[.!?:;\n]", text)
    for i, tok in enumerate(tokens):
        if not tok[:1].isupper() or not tok[1:].islower() or len(tok) < 3:
            continue
        low = tok.lower()
        if low in _COMMON or low in _WORD_TAGS or low in COLOUR_WORDS or _tags_of(low):
            continue
        sentence_start = i == 0 or tokens[i - 1] in ".!?:;\n"
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        after = tokens[i + 2] if i + 2 < len(tokens) else ""
        if (not sentence_start or (nxt.islower() and nxt.endswith("s") and len(nxt) > 3)
                or nxt in _AFTER_NAME or nxt == ":" or (nxt == "and" and after[:1].isupper())):
            found.add(tok)
    return found


# "玛拉: 年老的灯塔看守人。" is a character note too; these are headings, not names ("场景: 海边")
_CHARACTER_NOTE_ZH = re.compile(r"(?:^|(?<=[\s。.!?！？]))([\u4e00-\u9fff]{1,4})[:：][^。.\n]*[。.\n]?")
_HEADINGS_ZH = {"场景", "镜头", "画面", "地点", "时间", "光线", "天气", "动作", "旁白", "台词", "字幕", "备注", "风格",
                "氛围", "色调", "机位", "运镜", "景别", "镜号", "描述", "内容", "对白", "音乐", "音效", "转场", "人物",
                "角色", "提示", "说明", "标题"}


def _without_zh_notes(text: str, names: set[str]) -> str:
    def drop(m: re.Match) -> str:
        if m.group(1) in _HEADINGS_ZH or m.group(1) in ZH_WORDS:
            return m.group(0)
        names.add(m.group(1))
        return " "
    return _CHARACTER_NOTE_ZH.sub(drop, text)


_FEMALE = {"woman", "women", "girl", "girls", "she", "her", "lady", "queen", "mother", "heroine", "witch", "nurse",
           "girlfriend", "cowgirl", "dancer", "singer"}


def analyse(prompt: str, negative: str = "") -> Scene:
    zh_names: set[str] = set()
    scenery = gloss(_without_zh_notes(prompt or "", zh_names))
    prompt, negative = gloss(prompt or ""), gloss(negative or "")
    words = _words(_CHARACTER_NOTE.sub(" ", scenery))
    tags: set[str] = set()
    order: list[str] = []
    for w in words:
        for tag in _tags_of(w):
            if tag not in tags:
                order.append(tag)
            tags.add(tag)
    words_all = _words(prompt or "")  # colours and people also come from the character notes
    for w in _words(negative or ""):
        for tag in _tags_of(w):
            tags.discard(tag)
            if tag == "person" or tag == "people":
                tags.discard("person")
                tags.discard("people")

    if _FEMALE & set(words) and not {"man", "men", "he", "boy"} & set(words):
        tags.add("female")  # a close-up of her gets long hair
    scene = Scene(tags=tags)
    times = [t.split(":")[1] for t in order if t.startswith("time:") and t in tags]
    if times:
        # "at dusk ... moon" : the first named light wins, except that night words beat day words
        scene.time = "night" if "night" in times and times[0] == "day" else times[0]
    frames = [t.split(":")[1] for t in order if t.startswith("frame:") and t in tags]
    scene.framing = frames[0] if frames else "default"
    angles = [t.split(":")[1] for t in order if t.startswith("angle:") and t in tags]
    scene.angle = angles[0] if angles else "eye"

    # how many people: "two women", "Mara and Finn", "a crowd"
    names = _names(prompt) | zh_names
    if names:
        tags.add("person")
    if "people" in tags or "person" in tags:
        n = max(1, min(len(names), 3))
        for i, w in enumerate(words[:-1]):
            if _NUMBERS.get(w) and {"person", "people"} & set(_tags_of(words[i + 1])):
                n = max(n, _NUMBERS[w])
        if "people" in tags:
            n = max(n, 2)
        if any(w in ("crowd", "group", "team", "everyone") for w in words):
            n = 5
        scene.people = min(n, 5)
    if "animal" in tags:
        for w in words:
            for base in (w, w[:-1], w[:-2]):
                if "animal" in _WORD_TAGS.get(base, ()):
                    scene.animal = base
                    break
            if scene.animal:
                break
    if "horseback" in words or "horsemen" in words:
        tags.add("animal")
        scene.animal = "horse"
    scene.riding = bool(scene.animal and scene.people and
                        {"ride", "rides", "riding", "rider", "riders", "horseback", "mounted", "saddle"} & set(words))
    for w in words_all:
        if w in COLOUR_WORDS:
            scene.colours.append(COLOUR_WORDS[w])
    return scene
