package schemas

// Transaction is one card transaction (topic value; key = CardID).
// Amount is in currency units (not cents). EventTime is Unix milliseconds UTC.
type Transaction struct {
	TransactionID string   `avro:"transaction_id" json:"transaction_id"`
	CardID        string   `avro:"card_id" json:"card_id"`
	MerchantID    string   `avro:"merchant_id" json:"merchant_id"`
	MCC           int32    `avro:"mcc" json:"mcc"`
	Amount        float64  `avro:"amount" json:"amount"`
	Currency      string   `avro:"currency" json:"currency"`
	EventTime     int64    `avro:"event_time" json:"event_time"`
	Channel       string   `avro:"channel" json:"channel"`
	Country       *string  `avro:"country" json:"country,omitempty"`
	DeviceID      *string  `avro:"device_id" json:"device_id,omitempty"`
	IP            *string  `avro:"ip" json:"ip,omitempty"`
	Lat           *float64 `avro:"lat" json:"lat,omitempty"`
	Lon           *float64 `avro:"lon" json:"lon,omitempty"`
}

// Label is a delayed fraud label (topic value; key = CardID). LabelTime is
// Unix milliseconds UTC: when the label became known, typically days to weeks
// after the transaction's event time.
type Label struct {
	TransactionID string `avro:"transaction_id" json:"transaction_id"`
	CardID        string `avro:"card_id" json:"card_id"`
	IsFraud       bool   `avro:"is_fraud" json:"is_fraud"`
	LabelTime     int64  `avro:"label_time" json:"label_time"`
	Source        string `avro:"source" json:"source"`
}

// Actions a Decision can take.
const (
	ActionApprove = "approve"
	ActionDecline = "decline"
	ActionReview  = "review"
)

// Decision is the pipeline's verdict on one Transaction (topic value; key =
// CardID). All fields but DecidedAt are a deterministic function of the input
// log, the model bundle and the configuration.
type Decision struct {
	TransactionID string  `avro:"transaction_id" json:"transaction_id"`
	CardID        string  `avro:"card_id" json:"card_id"`
	EventTime     int64   `avro:"event_time" json:"event_time"`
	DecidedAt     int64   `avro:"decided_at" json:"decided_at"`
	Action        string  `avro:"action" json:"action"`
	Score         float64 `avro:"score" json:"score"`
	Threshold     float64 `avro:"threshold" json:"threshold"`
	Flagged       bool    `avro:"flagged" json:"flagged"`
	Explored      bool    `avro:"explored" json:"explored"`
	// Propensity is the probability that the policy takes the action it took,
	// for inverse-propensity weighting of labelled outcomes.
	Propensity   float64 `avro:"propensity" json:"propensity"`
	ModelVersion string  `avro:"model_version" json:"model_version"`
	FeatureSet   string  `avro:"feature_set" json:"feature_set"`
	// Features are the values served, in the feature set's order (NaN =
	// missing); nil when the config turns them off.
	Features        []float64 `avro:"features" json:"features,omitempty"`
	Reasons         []string  `avro:"reasons" json:"reasons"`
	SourcePartition int32     `avro:"source_partition" json:"source_partition"`
	SourceOffset    int64     `avro:"source_offset" json:"source_offset"`
}

// Outcome is a decision joined with its delayed label (topic value; key =
// CardID). Weight = 1/Propensity.
type Outcome struct {
	TransactionID string  `avro:"transaction_id" json:"transaction_id"`
	CardID        string  `avro:"card_id" json:"card_id"`
	EventTime     int64   `avro:"event_time" json:"event_time"`
	ModelVersion  string  `avro:"model_version" json:"model_version"`
	Action        string  `avro:"action" json:"action"`
	Score         float64 `avro:"score" json:"score"`
	Threshold     float64 `avro:"threshold" json:"threshold"`
	Flagged       bool    `avro:"flagged" json:"flagged"`
	Explored      bool    `avro:"explored" json:"explored"`
	Propensity    float64 `avro:"propensity" json:"propensity"`
	IsFraud       bool    `avro:"is_fraud" json:"is_fraud"`
	LabelTime     int64   `avro:"label_time" json:"label_time"`
	LabelDelayMs  int64   `avro:"label_delay_ms" json:"label_delay_ms"`
	LabelSource   string  `avro:"label_source" json:"label_source"`
	Weight        float64 `avro:"weight" json:"weight"`
	Kind          string  `avro:"kind" json:"kind"`
}
