package types

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// SecretsHeader carries a build's secrets (hako build --secret; the
// classic build API has no field for them): base64url of a JSON object of
// id → base64 of the value. Secrets never reach the context, the cache
// keys or the image.
const SecretsHeader = "X-Hako-Build-Secrets"

// EncodeSecrets is SecretsHeader's value for secrets.
func EncodeSecrets(secrets map[string][]byte) string {
	b, _ := json.Marshal(secrets) // []byte values marshal as base64
	return base64.URLEncoding.EncodeToString(b)
}

// DecodeSecrets reads SecretsHeader's value.
func DecodeSecrets(v string) (map[string][]byte, error) {
	b, err := base64.URLEncoding.DecodeString(v)
	if err != nil {
		return nil, fmt.Errorf("not base64url: %v", err)
	}
	var out map[string][]byte
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("not a JSON object of secrets: %v", err)
	}
	return out, nil
}
