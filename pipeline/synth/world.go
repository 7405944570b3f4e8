package synth

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
)

// Channels, as in the transaction schema.
const (
	ChannelPOS         = "pos"
	ChannelContactless = "contactless"
	ChannelEcom        = "ecom"
	ChannelATM         = "atm"
	ChannelMOTO        = "moto"
)

type channel uint8

const (
	chPOS channel = iota
	chContactless
	chEcom
	chATM
	chMOTO
	numChannels
)

var channelNames = [numChannels]string{ChannelPOS, ChannelContactless, ChannelEcom, ChannelATM, ChannelMOTO}

// cardPresent reports whether the channel has a terminal location (lat/lon).
func (c channel) cardPresent() bool { return c == chPOS || c == chContactless || c == chATM }

// city is a real place where merchants are and where cards live.
type city struct {
	name     string
	country  string // ISO 3166-1 alpha-2; transactions point at this field
	lat, lon float64
	tzMin    int    // UTC offset in minutes (standard time; DST ignored)
	currency string // local ISO 4217 code
	// homeWeight is the relative number of cardholders living there; 0 for
	// places that only travellers and fraudsters visit.
	homeWeight float64
}

// cityTable lists the simulated places. Cards live in Europe (mostly the euro
// area), the UK and the US; the rest are travel destinations and the far
// places of geography-jump fraud.
var cityTable = []city{
	{"Paris", "FR", 48.8566, 2.3522, 60, "EUR", 10},
	{"Lyon", "FR", 45.7640, 4.8357, 60, "EUR", 3},
	{"Berlin", "DE", 52.5200, 13.4050, 60, "EUR", 8},
	{"Munich", "DE", 48.1351, 11.5820, 60, "EUR", 4},
	{"Hamburg", "DE", 53.5511, 9.9937, 60, "EUR", 3},
	{"Madrid", "ES", 40.4168, -3.7038, 60, "EUR", 6},
	{"Barcelona", "ES", 41.3874, 2.1686, 60, "EUR", 4},
	{"Rome", "IT", 41.9028, 12.4964, 60, "EUR", 5},
	{"Milan", "IT", 45.4642, 9.1900, 60, "EUR", 4},
	{"Amsterdam", "NL", 52.3676, 4.9041, 60, "EUR", 5},
	{"Brussels", "BE", 50.8503, 4.3517, 60, "EUR", 3},
	{"Vienna", "AT", 48.2082, 16.3738, 60, "EUR", 3},
	{"Lisbon", "PT", 38.7223, -9.1393, 0, "EUR", 3},
	{"Dublin", "IE", 53.3498, -6.2603, 0, "EUR", 3},
	{"London", "GB", 51.5074, -0.1278, 0, "GBP", 6},
	{"Manchester", "GB", 53.4808, -2.2426, 0, "GBP", 2},
	{"New York", "US", 40.7128, -74.0060, -300, "USD", 3},
	{"Chicago", "US", 41.8781, -87.6298, -360, "USD", 1},
	{"Istanbul", "TR", 41.0082, 28.9784, 180, "TRY", 0},
	{"Dubai", "AE", 25.2048, 55.2708, 240, "AED", 0},
	{"Bangkok", "TH", 13.7563, 100.5018, 420, "THB", 0},
	{"Tokyo", "JP", 35.6762, 139.6503, 540, "JPY", 0},
	{"Lagos", "NG", 6.5244, 3.3792, 60, "NGN", 0},
	{"Jakarta", "ID", -6.2088, 106.8456, 420, "IDR", 0},
	{"Sao Paulo", "BR", -23.5505, -46.6333, -180, "BRL", 0},
	{"Mexico City", "MX", 19.4326, -99.1332, -360, "MXN", 0},
	{"Manila", "PH", 14.5995, 120.9842, 480, "PHP", 0},
	{"Mumbai", "IN", 19.0760, 72.8777, 330, "INR", 0},
	{"Ho Chi Minh City", "VN", 10.8231, 106.6297, 420, "VND", 0},
	{"Los Angeles", "US", 34.0522, -118.2437, -480, "USD", 0},
}

// farKm is the smallest distance of a geography jump: with at most two hours
// between the home transaction and the jump, the implied speed is at least
// 1,500 km/h, which no traveller reaches (legit trips are timed at 800 km/h
// plus 90 minutes at the airports).
const farKm = 3000

// category is a kind of merchant: its MCC, how much is spent there relative to
// the card's median, and how its transactions split over channels.
type category struct {
	mcc        int32
	amount     float64              // multiple of the card's median amount
	channels   [numChannels]float64 // relative weights
	popularity float64              // relative number of merchants
	highValue  bool                 // where large purchases and takeovers shop
	testing    bool                 // online, cheap: card testers' favourite
	risky      bool                 // the category of risky merchants
}

// online reports whether the category has no card-present channel.
func (c *category) online() bool {
	return c.channels[chPOS] == 0 && c.channels[chContactless] == 0 && c.channels[chATM] == 0
}

// categoryTable: channel weights are in the order pos, contactless, ecom,
// atm, moto.
var categoryTable = []category{
	{mcc: 5411, amount: 1.0, channels: [numChannels]float64{.4, .6, 0, 0, 0}, popularity: 20},                  // grocery
	{mcc: 5812, amount: 1.5, channels: [numChannels]float64{.5, .5, 0, 0, 0}, popularity: 12},                  // restaurants
	{mcc: 5814, amount: 0.4, channels: [numChannels]float64{.2, .8, 0, 0, 0}, popularity: 10},                  // fast food
	{mcc: 5541, amount: 1.2, channels: [numChannels]float64{.6, .4, 0, 0, 0}, popularity: 6},                   // fuel
	{mcc: 6011, amount: 2.5, channels: [numChannels]float64{0, 0, 0, 1, 0}, popularity: 5},                     // ATM
	{mcc: 5912, amount: 0.7, channels: [numChannels]float64{.5, .5, 0, 0, 0}, popularity: 5},                   // pharmacy
	{mcc: 5651, amount: 2.0, channels: [numChannels]float64{.5, .3, .2, 0, 0}, popularity: 6},                  // clothing
	{mcc: 5311, amount: 2.0, channels: [numChannels]float64{.6, .3, .1, 0, 0}, popularity: 4},                  // department store
	{mcc: 4121, amount: 0.8, channels: [numChannels]float64{0, .3, .7, 0, 0}, popularity: 5},                   // taxi / ride hailing
	{mcc: 5732, amount: 4.0, channels: [numChannels]float64{.4, 0, .6, 0, 0}, popularity: 3, highValue: true},  // electronics
	{mcc: 5944, amount: 6.0, channels: [numChannels]float64{.8, 0, .2, 0, 0}, popularity: .5, highValue: true}, // jewellery
	{mcc: 7011, amount: 6.0, channels: [numChannels]float64{.5, 0, .3, 0, .2}, popularity: 1.5},                // hotels
	{mcc: 5815, amount: 0.3, channels: [numChannels]float64{0, 0, 1, 0, 0}, popularity: 8, testing: true},      // digital goods
	{mcc: 5999, amount: 1.5, channels: [numChannels]float64{0, 0, 1, 0, 0}, popularity: 10, testing: true},     // online retail
	{mcc: 8398, amount: 0.8, channels: [numChannels]float64{0, 0, 1, 0, 0}, popularity: 1, testing: true},      // donations
	{mcc: 4511, amount: 8.0, channels: [numChannels]float64{0, 0, .9, 0, .1}, popularity: 1, highValue: true},  // airlines
	{mcc: 4814, amount: 1.2, channels: [numChannels]float64{0, 0, .6, 0, .4}, popularity: 2},                   // telecom
	{mcc: 5964, amount: 1.5, channels: [numChannels]float64{0, 0, 0, 0, 1}, popularity: 1},                     // catalogue (mail order)
	// Risky categories: every risky merchant is in one of them, but so are a
	// few ordinary merchants, so the MCC alone is not a perfect signal.
	{mcc: 7995, amount: 1.5, channels: [numChannels]float64{0, 0, 1, 0, 0}, popularity: .3, risky: true},   // gambling
	{mcc: 6051, amount: 3.0, channels: [numChannels]float64{0, 0, 1, 0, 0}, popularity: .3, risky: true},   // quasi-cash, crypto
	{mcc: 4829, amount: 3.0, channels: [numChannels]float64{0, 0, .8, 0, .2}, popularity: .3, risky: true}, // money transfer
	{mcc: 5967, amount: 1.0, channels: [numChannels]float64{0, 0, .5, 0, .5}, popularity: .2, risky: true}, // direct marketing
}

// merchant is one simulated merchant. Its fields never change after New, so
// transactions may point at lat and lon.
type merchant struct {
	id       string
	lat, lon float64 // terminal location (used for card-present channels)
	city     int32
	cat      int32
	risky    bool
}

// world is the static part of the simulation, built once by New.
type world struct {
	cities    []city
	cityCur   []string  // transaction currency of each city's merchants
	homeCDF   []float64 // cumulative homeWeight, for drawing a card's home
	farFrom   [][]int32 // per city: cities at least farKm away
	nearHomes [][]int32 // per city: other home cities (travel destinations)
	abroad    []int32   // non-home cities (far travel destinations)

	cats      []category
	merchants []merchant
	// Indexes into merchants.
	locatedByCity   [][]int32 // merchants with a card-present channel, by city
	highValueByCity [][]int32 // located and highValue, by city (may be empty)
	online          []int32   // online-only, not risky
	highValueOnline []int32   // high-value merchants taking ecom
	testing         []int32   // online, cheap: card-testing targets
	risky           []int32   // risky merchants
	channelCDF      [][numChannels]float64
}

func buildWorld(cfg *Config, rng *rand.Rand) *world {
	w := &world{cities: slices.Clone(cityTable), cats: slices.Clone(categoryTable)}
	nc := len(w.cities)
	w.cityCur = make([]string, nc)
	w.homeCDF = make([]float64, nc)
	sum := 0.0
	for i := range w.cities {
		c := &w.cities[i]
		w.cityCur[i] = cfg.Currencies[0]
		if slices.Contains(cfg.Currencies, c.currency) {
			w.cityCur[i] = c.currency
		}
		sum += c.homeWeight
		w.homeCDF[i] = sum
		if c.homeWeight == 0 {
			w.abroad = append(w.abroad, int32(i))
		}
	}
	w.farFrom = make([][]int32, nc)
	w.nearHomes = make([][]int32, nc)
	for i := range w.cities {
		for j := range w.cities {
			if i == j {
				continue
			}
			if w.distKm(int32(i), int32(j)) >= farKm {
				w.farFrom[i] = append(w.farFrom[i], int32(j))
			}
			if w.cities[j].homeWeight > 0 {
				w.nearHomes[i] = append(w.nearHomes[i], int32(j))
			}
		}
	}

	w.channelCDF = make([][numChannels]float64, len(w.cats))
	for i := range w.cats {
		s := 0.0
		for ch, wt := range w.cats[i].channels {
			s += wt
			w.channelCDF[i][ch] = s
		}
		for ch := range w.channelCDF[i] {
			w.channelCDF[i][ch] /= s
		}
	}

	// Category draw tables: ordinary merchants by popularity, risky merchants
	// among the risky categories only.
	var ordCDF, riskyCDF []float64
	var ordCats, riskyCats []int32
	s, rs := 0.0, 0.0
	for i := range w.cats {
		s += w.cats[i].popularity
		ordCDF = append(ordCDF, s)
		ordCats = append(ordCats, int32(i))
		if w.cats[i].risky {
			rs++
			riskyCDF = append(riskyCDF, rs)
			riskyCats = append(riskyCats, int32(i))
		}
	}
	var locatedCDF []float64
	var locatedCats []int32
	ls := 0.0
	for i := range w.cats {
		if !w.cats[i].online() {
			ls += w.cats[i].popularity
			locatedCDF = append(locatedCDF, ls)
			locatedCats = append(locatedCats, int32(i))
		}
	}

	n := cfg.Merchants
	nRisky := max(2, n/100) // 1% of merchants are risky
	w.merchants = make([]merchant, n)
	w.locatedByCity = make([][]int32, nc)
	w.highValueByCity = make([][]int32, nc)
	// Merchants are laid out so that every list the patterns draw from is
	// non-empty whatever the count (n ≥ MinMerchants):
	//   [0, 4·nc)        located, four per city (a card can always shop locally)
	//   [4·nc, +nRisky)  risky
	//   next 12          online: 4 card-testing targets, 4 high-value, 4 others
	//   the rest         by popularity; 85% of located ones in home cities
	for i := range w.merchants {
		m := &w.merchants[i]
		m.id = merchantID(i)
		var cat int32
		cityIdx := int32(-1)
		switch j := i - 4*nc; {
		case j < 0:
			cityIdx = int32(i % nc)
			cat = locatedCats[pick(rng, locatedCDF)]
		case j < nRisky:
			cat = riskyCats[pick(rng, riskyCDF)]
			m.risky = true
		case j < nRisky+12:
			k := j - nRisky
			cat = w.firstCategory(func(c *category) bool {
				switch {
				case k < 4:
					return c.testing
				case k < 8:
					return c.highValue && c.channels[chEcom] > 0
				}
				return c.online() && !c.risky && !c.testing
			})
		default:
			cat = ordCats[pick(rng, ordCDF)]
		}
		m.cat = cat
		c := &w.cats[cat]
		if cityIdx < 0 {
			if c.online() || rng.Float64() < 0.85 {
				cityIdx = int32(pick(rng, w.homeCDF))
			} else {
				cityIdx = w.abroad[rng.IntN(len(w.abroad))]
			}
		}
		m.city = cityIdx
		ct := &w.cities[cityIdx]
		// Terminals are spread over ~10 km around the city centre.
		m.lat = round5(ct.lat + 0.05*rng.NormFloat64())
		m.lon = round5(ct.lon + 0.05*rng.NormFloat64()/math.Cos(ct.lat*math.Pi/180))
		id := int32(i)
		switch {
		case m.risky:
			w.risky = append(w.risky, id)
		case c.online():
			w.online = append(w.online, id)
		default:
			w.locatedByCity[cityIdx] = append(w.locatedByCity[cityIdx], id)
			if c.highValue {
				w.highValueByCity[cityIdx] = append(w.highValueByCity[cityIdx], id)
			}
		}
		if !m.risky && c.highValue && c.channels[chEcom] > 0 {
			w.highValueOnline = append(w.highValueOnline, id)
		}
		if !m.risky && c.testing {
			w.testing = append(w.testing, id)
		}
	}
	return w
}

func (w *world) firstCategory(ok func(*category) bool) int32 {
	for i := range w.cats {
		if ok(&w.cats[i]) {
			return int32(i)
		}
	}
	panic("synth: category table has no category for a required role")
}

// distKm is the great-circle distance between two city centres.
func (w *world) distKm(a, b int32) float64 {
	return haversineKm(w.cities[a].lat, w.cities[a].lon, w.cities[b].lat, w.cities[b].lon)
}

func haversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371.0
	rad := math.Pi / 180
	dlat := (lat2 - lat1) * rad
	dlon := (lon2 - lon1) * rad
	a := math.Sin(dlat/2)*math.Sin(dlat/2) +
		math.Cos(lat1*rad)*math.Cos(lat2*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// pick draws an index from a cumulative weight table: the first i with
// cdf[i] > u, u uniform in [0, total), so zero-weight entries are never drawn.
func pick(rng *rand.Rand, cdf []float64) int {
	u := rng.Float64() * cdf[len(cdf)-1]
	return sort.Search(len(cdf)-1, func(i int) bool { return cdf[i] > u })
}

func round5(x float64) float64 { return math.Round(x*1e5) / 1e5 }
func round2(x float64) float64 { return math.Round(x*100) / 100 }

func merchantID(i int) string { return padded("m-", i, 5) }
func cardID(i int) string     { return padded("card-", i, 6) }

// padded returns prefix + i zero-padded to at least width digits.
func padded(prefix string, i, width int) string {
	b := make([]byte, 0, len(prefix)+width+4)
	b = append(b, prefix...)
	d := strconv.Itoa(i)
	for k := len(d); k < width; k++ {
		b = append(b, '0')
	}
	return string(append(b, d...))
}

// randomDevice returns a new device id, "dev-" and 12 hex digits.
func randomDevice(rng *rand.Rand) *string {
	s := fmt.Sprintf("dev-%012x", rng.Uint64()&(1<<48-1))
	return &s
}

// randomIP returns a new public-looking IPv4 address. Cardholders and
// fraudsters draw from different first octets (home ISPs vs hosting and
// proxy ranges), a weak signal like in real data.
func randomIP(rng *rand.Rand, fraudster bool) *string {
	var first int
	if fraudster {
		first = []int{5, 23, 45, 104, 185, 193}[rng.IntN(6)]
	} else {
		first = []int{31, 62, 78, 82, 86, 90, 109, 176, 188, 212}[rng.IntN(10)]
	}
	s := fmt.Sprintf("%d.%d.%d.%d", first, rng.IntN(256), rng.IntN(256), 1+rng.IntN(254))
	return &s
}
