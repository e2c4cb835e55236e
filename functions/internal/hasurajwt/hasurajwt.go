// Package hasurajwt holds what Hasura's JWT mode and the sign-in tokens agree on: the claims
// the engine reads (Claims, under Namespace) and the value of HASURA_GRAPHQL_JWT_SECRET that
// makes the engine trust a Cognito user pool's ID tokens. Both the Pre Token Generation Lambda
// and the tests that check its tokens as the engine would use this one copy, so they cannot
// drift apart.
package hasurajwt

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Namespace is the claim Hasura reads its session variables from (its default
// claims_namespace).
const Namespace = "https://hasura.io/jwt/claims"

// The roles a token can allow. Every signed-in user is a member; staff and admin come from
// the Cognito groups of those names.
const (
	RoleMember = "member"
	RoleStaff  = "staff"
	RoleAdmin  = "admin"
)

// Claims are the session variables under Namespace.
type Claims struct {
	UserID       string   `json:"x-hasura-user-id"`
	DefaultRole  string   `json:"x-hasura-default-role"`
	AllowedRoles []string `json:"x-hasura-allowed-roles"`
}

// How the claims sit under Namespace: a JSON string holding the object (what a version 1
// Pre Token Generation event can write, its claims being strings only), or the object itself
// (version 2).
const (
	StringifiedJSON = "stringified_json"
	JSON            = "json"
)

// Secret is a HASURA_GRAPHQL_JWT_SECRET value for a Cognito user pool. The fields are in the
// order they are written, so that Value is stable and the docs can quote it.
type Secret struct {
	Type         string `json:"type"`
	JWKURL       string `json:"jwk_url"`
	ClaimsFormat string `json:"claims_format"`
	Issuer       string `json:"issuer"`
	// Audience is the app client id: ID tokens carry it as aud. Access tokens have no aud (they
	// name the client in client_id), so with it set the engine takes ID tokens only.
	Audience string `json:"audience"`
}

// Cognito is the secret for pool poolID in AWS region, trusting the ID tokens issued to app
// client clientID, with the claims a version 1 trigger writes (stringified_json).
func Cognito(region, poolID, clientID string) Secret {
	return forIssuer("https://cognito-idp."+region+".amazonaws.com/"+poolID, clientID)
}

// CognitoLocal is the same secret for a pool of cognito-local listening at endpoint
// (http://host:port), whose issuer is the endpoint followed by the pool id.
func CognitoLocal(endpoint, poolID, clientID string) Secret {
	return forIssuer(strings.TrimSuffix(endpoint, "/")+"/"+poolID, clientID)
}

func forIssuer(issuer, clientID string) Secret {
	return Secret{
		Type:         "RS256",
		JWKURL:       issuer + "/.well-known/jwks.json",
		ClaimsFormat: StringifiedJSON,
		Issuer:       issuer,
		Audience:     clientID,
	}
}

// ForVersion2 is s for a pool whose trigger runs on version 2 events, which write the claims
// as a JSON object.
func (s Secret) ForVersion2() Secret {
	s.ClaimsFormat = JSON
	return s
}

// Value is the JSON to set HASURA_GRAPHQL_JWT_SECRET to, on one line. Characters such as <
// are written as they are (placeholders in the docs stay readable).
func (s Secret) Value() string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // a struct of strings always encodes
	}
	return strings.TrimSuffix(b.String(), "\n")
}
