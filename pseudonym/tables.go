package pseudonym

// The tables below are curated by hand. Their contents and order number the
// names of the space (see the package documentation): changing them changes
// the names new testimonies get, never a name already in a registry
// (registries store names, not indexes), and makes researchers on different
// versions give new testimonies different names. testdata/candidates.txt pins
// them.

// drawSurnames are the surnames of the space, each
// with its customary romanization. They are among the most common Korean
// surnames, plus the North Korean spellings (리, 림, 로, 량, 라, 렴) of
// surnames written with ㅇ or ㄴ in the South. Every romanization is distinct.
var drawSurnames = []struct{ hangul, roman string }{
	{"김", "Kim"}, {"이", "Lee"}, {"박", "Park"}, {"최", "Choi"}, {"정", "Jung"},
	{"강", "Kang"}, {"조", "Cho"}, {"윤", "Yoon"}, {"장", "Jang"}, {"임", "Lim"},
	{"한", "Han"}, {"오", "Oh"}, {"서", "Seo"}, {"신", "Shin"}, {"권", "Kwon"},
	{"황", "Hwang"}, {"안", "Ahn"}, {"송", "Song"}, {"류", "Ryu"}, {"홍", "Hong"},
	{"전", "Jeon"}, {"고", "Ko"}, {"문", "Moon"}, {"양", "Yang"}, {"손", "Son"},
	{"배", "Bae"}, {"백", "Baek"}, {"허", "Heo"}, {"유", "Yoo"}, {"남", "Nam"},
	{"심", "Shim"}, {"노", "Noh"}, {"하", "Ha"}, {"곽", "Kwak"}, {"성", "Sung"},
	{"차", "Cha"}, {"주", "Joo"}, {"우", "Woo"}, {"구", "Koo"}, {"민", "Min"},
	{"진", "Jin"}, {"지", "Ji"}, {"엄", "Eom"}, {"채", "Chae"}, {"원", "Won"},
	{"천", "Cheon"}, {"방", "Bang"}, {"공", "Kong"}, {"현", "Hyun"}, {"함", "Ham"},
	{"변", "Byun"}, {"염", "Yeom"}, {"여", "Yeo"}, {"도", "Do"}, {"석", "Seok"},
	{"선", "Sun"}, {"설", "Seol"}, {"길", "Gil"}, {"연", "Yeon"}, {"위", "Wi"},
	{"표", "Pyo"}, {"명", "Myung"}, {"기", "Ki"}, {"반", "Ban"}, {"왕", "Wang"},
	{"금", "Keum"}, {"인", "In"}, {"맹", "Maeng"}, {"탁", "Tak"}, {"소", "So"},
	{"리", "Ri"}, {"림", "Rim"}, {"로", "Ro"}, {"량", "Ryang"}, {"라", "Ra"},
	{"렴", "Ryeom"},
}

// otherSurnames are surnames that draws never produce but that [Parse]
// romanizes the customary way when a researcher chooses a name by hand.
// Surnames in neither table are romanized syllable by syllable.
var otherSurnames = map[string]string{
	"국": "Kook", "부": "Boo", "추": "Choo", "옥": "Ok", "육": "Yook", "모": "Mo",
	"편": "Pyeon", "용": "Yong", "예": "Ye", "경": "Kyung", "봉": "Bong", "사": "Sa",
	"제": "Je", "나": "Na", "태": "Tae", "피": "Pi", "두": "Doo", "순": "Soon",
	"승": "Seung", "빈": "Bin", "견": "Kyun", "마": "Ma", "범": "Beom", "어": "Eo",
	"은": "Eun", "당": "Dang", "가": "Ka", "간": "Kan", "갈": "Kal", "감": "Kam",
	"계": "Kye", "곡": "Kok", "궁": "Koong", "근": "Keun", "단": "Dan", "담": "Dam",
	"대": "Dae", "동": "Dong", "래": "Rae", "려": "Ryeo", "륙": "Ryuk", "룡": "Ryong",
	"만": "Man", "묵": "Mook", "미": "Mi", "빙": "Bing", "상": "Sang", "시": "Si",
	"아": "Ah", "애": "Ae", "야": "Ya", "온": "On", "옹": "Ong", "요": "Yo",
	"운": "Woon", "음": "Eum", "좌": "Jwa", "증": "Jeung", "창": "Chang",
	"초": "Cho", "쾌": "Kwae", "판": "Pan", "평": "Pyeong", "풍": "Poong", "필": "Pil",
	"학": "Hak", "형": "Hyung", "호": "Ho", "화": "Hwa", "환": "Hwan", "후": "Hoo",
	// Two-syllable surnames. [Parse] reads a name of three or four syllables
	// that starts with one of these as that surname.
	"남궁": "Namgung", "선우": "Sunwoo", "제갈": "Jegal", "황보": "Hwangbo",
	"독고": "Dokgo", "사공": "Sagong", "서문": "Seomun", "동방": "Dongbang",
}

// drawSyllables are the syllables of given names, in either position. Each is common in Korean given names,
// North and South (룡, 련, 렬, 례, 률, 륜 keep the initial ㄹ as names do in
// the North). Left out on purpose: syllables that read badly in one of the
// two scripts (치, 초, 사, 마, 빛, 분, 부) and rare ones.
var drawSyllables = []string{
	"가", "강", "건", "결", "겸", "경", "계", "광", "교", "구", "국", "권", "규", "균", "근", "금", "기", "길",
	"나", "남",
	"다", "단", "담", "대", "덕", "도", "동", "두",
	"란", "람", "랑", "래", "련", "렬", "례", "록", "룡", "륜", "률", "리", "린", "림",
	"만", "명", "모", "무", "문", "미", "민",
	"범", "백", "병", "보", "복", "봉", "비", "빈",
	"산", "삼", "상", "새", "서", "석", "선", "설", "섭", "성", "세", "소", "솔", "송", "수", "숙", "순", "슬", "승", "시", "식", "신", "실", "심",
	"아", "안", "애", "양", "언", "연", "열", "엽", "영", "예", "오", "옥", "완", "요", "용", "우", "욱", "운", "웅", "원", "월", "위", "유", "윤", "율", "은", "의", "이", "익", "인", "일", "임",
	"자", "재", "전", "정", "제", "조", "종", "주", "준", "중", "지", "직", "진",
	"찬", "창", "채", "천", "철", "청", "춘", "충",
	"탁", "태", "택",
	"평", "표", "필",
	"하", "학", "한", "함", "항", "해", "향", "헌", "혁", "현", "협", "형", "혜", "호", "홍", "화", "환", "황", "효", "후", "훈", "휘", "흠", "흥", "희",
}

// blockedWords are two-syllable words a drawn name must not contain, either
// as its given name or as surname plus first given syllable: insults, sexual
// and bodily words, words of harm, North Korean political vocabulary and the
// given names of the Kim family. A courtesy, not a guarantee: it cannot list
// every unfortunate reading. Researchers can rename any pseudonym.
var blockedWords = []string{
	// Insults, sexual and bodily words.
	"병신", "등신", "성기", "정자", "자지", "보지", "고자", "성교", "성애", "자위",
	"사정", "정사", "호구", "동정", "성병", "임신", "종자", "변태", "노예", "남근",
	"장애", "방구", "설사", "미친", "주사", "마약", "유산", "사망", "지옥", "구토",
	// Harm, revenge, crime.
	"보복", "복수", "원수", "사기", "조폭", "간첩", "반동",
	// North Korean political and security vocabulary.
	"수령", "태양", "혁명", "충성", "주체", "인민", "보위", "안전", "보안", "국정",
	"수용", "교화", "단련", "노동", "공산",
	// Given names of the Kim family and those close to it.
	"일성", "정일", "정은", "정남", "정철", "여정", "주애", "설주", "정숙",
}

// blockedNames are full names draws never produce: political leaders of
// both Koreas and their families, and well-known defectors, so a pseudonym
// is never mistaken for a real, public person.
var blockedNames = []string{
	"김일성", "김정일", "김정은", "김정남", "김정철", "김여정", "김주애", "김정숙", "김경희",
	"김형직", "김영남", "김영철", "김덕훈", "김재룡", "리설주", "이설주", "장성택", "최룡해",
	"최용해", "현송월", "박봉주", "리선권", "이선권", "조용원", "최선희", "리병철", "황장엽",
	"이승만", "윤보선", "박정희", "최규하", "전두환", "노태우", "김영삼", "김대중", "노무현",
	"이명박", "박근혜", "문재인", "윤석열", "이재명", "김건희", "한덕수", "황교안", "이낙연",
	"태영호", "지성호", "박연미", "이현서", "강철환", "주승현", "박상학",
}
