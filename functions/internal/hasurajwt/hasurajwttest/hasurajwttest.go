// Package hasurajwttest checks a token the way Hasura's JWT mode does, configured only by a
// HASURA_GRAPHQL_JWT_SECRET value: the keys come from its jwk_url, the algorithm from its
// type, and its issuer, audience, claims_namespace, claims_format and allowed_skew are
// applied as the engine applies them. Tests drive it with hasurajwt's Secret, so a change to
// the secret that the tokens no longer satisfy fails them.
package hasurajwttest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/lestrrat-go/jwx/v2/jwt"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt"
)

// config is the part of Hasura's JWT secret this checker supports; any other field is
// refused, so that a secret using one cannot pass a test that ignores it.
type config struct {
	Type            string          `json:"type"`
	JWKURL          string          `json:"jwk_url"`
	ClaimsNamespace string          `json:"claims_namespace"`
	ClaimsFormat    string          `json:"claims_format"`
	Issuer          string          `json:"issuer"`
	Audience        json.RawMessage `json:"audience"` // a string or a list of strings
	AllowedSkew     int             `json:"allowed_skew"`
}

// Verifier checks tokens against one secret.
type Verifier struct {
	cfg       config
	audiences []string
	keys      jwk.Set
	// Now is the clock exp, nbf and iat are checked against (time.Now unless set), so a test
	// can look at a token after it expired.
	Now func() time.Time
}

// New parses secret (the JSON value of HASURA_GRAPHQL_JWT_SECRET) and fetches the keys from
// its jwk_url, as the engine does at start.
func New(ctx context.Context, secret string) (*Verifier, error) {
	var cfg config
	dec := json.NewDecoder(strings.NewReader(secret))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("hasurajwttest: the secret is not one this checker supports: %w", err)
	}
	if cfg.JWKURL == "" {
		return nil, errors.New("hasurajwttest: the secret has no jwk_url")
	}
	if cfg.ClaimsNamespace == "" {
		cfg.ClaimsNamespace = hasurajwt.Namespace
	}
	switch cfg.ClaimsFormat {
	case "":
		cfg.ClaimsFormat = hasurajwt.JSON // the engine's default
	case hasurajwt.JSON, hasurajwt.StringifiedJSON:
	default:
		return nil, fmt.Errorf("hasurajwttest: claims_format %q is not json or stringified_json", cfg.ClaimsFormat)
	}
	audiences, err := parseAudience(cfg.Audience)
	if err != nil {
		return nil, err
	}
	keys, err := jwk.Fetch(ctx, cfg.JWKURL)
	if err != nil {
		return nil, fmt.Errorf("hasurajwttest: fetch the keys from %s: %w", cfg.JWKURL, err)
	}
	return &Verifier{cfg: cfg, audiences: audiences, keys: keys, Now: time.Now}, nil
}

func parseAudience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, fmt.Errorf("hasurajwttest: audience is neither a string nor a list of strings: %s", raw)
	}
	return many, nil
}

// Verify checks token and returns the session it grants. Any failure is an error, as the
// engine then refuses the request.
func (v *Verifier) Verify(token string) (hasurajwt.Claims, error) {
	key, alg, err := v.key(token)
	if err != nil {
		return hasurajwt.Claims{}, err
	}
	opts := []jwt.ParseOption{
		jwt.WithKey(alg, key),
		jwt.WithValidate(true),
		jwt.WithClock(jwt.ClockFunc(v.Now)),
		jwt.WithAcceptableSkew(time.Duration(v.cfg.AllowedSkew) * time.Second),
	}
	if v.cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.cfg.Issuer))
	}
	tok, err := jwt.ParseString(token, opts...)
	if err != nil {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: %w", err)
	}
	if len(v.audiences) > 0 && !anyIn(v.audiences, tok.Audience()) {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: audience %q is not %q", tok.Audience(), v.audiences)
	}
	raw, ok := tok.Get(v.cfg.ClaimsNamespace)
	if !ok {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: no claim %s", v.cfg.ClaimsNamespace)
	}
	return v.session(raw)
}

// key picks the key by the token's kid and refuses an algorithm other than the secret's
// type (or, without one, the key's own): alg none, or HS256 signed with the public key.
func (v *Verifier) key(token string) (jwk.Key, jwa.SignatureAlgorithm, error) {
	msg, err := jws.ParseString(token)
	if err != nil {
		return nil, "", fmt.Errorf("hasurajwttest: %w", err)
	}
	if len(msg.Signatures()) != 1 {
		return nil, "", errors.New("hasurajwttest: not a compact JWS with one signature")
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	key, ok := v.keys.LookupKeyID(hdr.KeyID())
	if !ok {
		return nil, "", fmt.Errorf("hasurajwttest: no key %q at %s", hdr.KeyID(), v.cfg.JWKURL)
	}
	want := jwa.SignatureAlgorithm(v.cfg.Type)
	if want == "" {
		want = jwa.SignatureAlgorithm(key.Algorithm().String())
	}
	if want == "" || want == jwa.NoSignature || hdr.Algorithm() != want {
		return nil, "", fmt.Errorf("hasurajwttest: algorithm %q, want %q", hdr.Algorithm(), want)
	}
	return key, want, nil
}

// session reads the claims as claims_format says they are written, and requires what the
// engine requires: a list of allowed roles and a default role among them.
func (v *Verifier) session(raw any) (hasurajwt.Claims, error) {
	var obj []byte
	switch v.cfg.ClaimsFormat {
	case hasurajwt.StringifiedJSON:
		s, ok := raw.(string)
		if !ok {
			return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: claims_format is stringified_json but the claims are a %T", raw)
		}
		obj = []byte(s)
	default:
		if _, ok := raw.(map[string]any); !ok {
			return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: claims_format is json but the claims are a %T", raw)
		}
		var err error
		if obj, err = json.Marshal(raw); err != nil {
			return hasurajwt.Claims{}, err
		}
	}
	// The engine reads session variable names case-insensitively.
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(obj, &vars); err != nil {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: the claims are no JSON object: %w", err)
	}
	lower := make(map[string]json.RawMessage, len(vars))
	for k, v := range vars {
		lower[strings.ToLower(k)] = v
	}
	var c hasurajwt.Claims
	if err := strictly(lower["x-hasura-allowed-roles"], &c.AllowedRoles); err != nil || len(c.AllowedRoles) == 0 {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: x-hasura-allowed-roles is not a list of roles: %s", lower["x-hasura-allowed-roles"])
	}
	if err := strictly(lower["x-hasura-default-role"], &c.DefaultRole); err != nil || c.DefaultRole == "" {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: x-hasura-default-role is not a role: %s", lower["x-hasura-default-role"])
	}
	if !anyIn([]string{c.DefaultRole}, c.AllowedRoles) {
		return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: default role %q is not allowed (%q)", c.DefaultRole, c.AllowedRoles)
	}
	if id, ok := lower["x-hasura-user-id"]; ok {
		if err := strictly(id, &c.UserID); err != nil {
			return hasurajwt.Claims{}, fmt.Errorf("hasurajwttest: x-hasura-user-id is not a string: %s", id)
		}
	}
	return c, nil
}

// strictly decodes raw into v, refusing null and values of another type.
func strictly(raw json.RawMessage, v any) error {
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return errors.New("missing")
	}
	return json.Unmarshal(raw, v)
}

func anyIn(want, have []string) bool {
	for _, w := range want {
		for _, h := range have {
			if w == h {
				return true
			}
		}
	}
	return false
}
