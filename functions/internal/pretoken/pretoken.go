// Package pretoken is the Cognito Pre Token Generation trigger: it writes Hasura's claims
// into the tokens Cognito issues, so the engine knows who signed in and which roles they may
// take. Every user is a member; the Cognito groups staff and admin add those roles; other
// groups are ignored.
//
// An event the trigger cannot answer with claims (no sub, another trigger, another version)
// is an error, which makes Cognito refuse the sign-in: a token without the claims would look
// signed in to the app and be refused by every Hasura call.
package pretoken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasurajwt"
)

// triggerSources are the sign-in and refresh events of Pre Token Generation, for versions 1
// and 2. (Version 3's machine-to-machine TokenGeneration_ClientCredentials has no user.)
var triggerSources = []string{
	"TokenGeneration_HostedAuth",
	"TokenGeneration_Authentication",
	"TokenGeneration_NewPasswordChallenge",
	"TokenGeneration_AuthenticateDevice",
	"TokenGeneration_RefreshTokens",
}

// groupRoles maps the Cognito groups that grant a role, in the order roles are listed.
var groupRoles = []struct{ group, role string }{
	{"staff", hasurajwt.RoleStaff},
	{"admin", hasurajwt.RoleAdmin},
}

// Handler answers Pre Token Generation events.
type Handler struct {
	Log *slog.Logger
}

// Invoke takes the event as Cognito sends it and answers it with the claims added. The event
// is read raw because its version decides its shape.
func (h Handler) Invoke(ctx context.Context, event json.RawMessage) (json.RawMessage, error) {
	out, head, err := answer(event)
	if err != nil {
		h.log().ErrorContext(ctx, "pre token generation refused", append(head.logAttrs(ctx), "error", err.Error())...)
		return nil, err
	}
	return out, nil
}

func (h Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.Default()
}

// header is what tells the events apart, read before the event itself.
type header struct {
	Version       json.RawMessage `json:"version"`
	TriggerSource string          `json:"triggerSource"`
	UserPoolID    string          `json:"userPoolId"`
	UserName      string          `json:"userName"`
}

func (h header) logAttrs(ctx context.Context) []any {
	attrs := []any{"version", strings.Trim(string(h.Version), `"`), "trigger_source", h.TriggerSource, "user_pool_id", h.UserPoolID, "user_name", h.UserName}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, "aws_request_id", lc.AwsRequestID)
	}
	return attrs
}

func answer(event json.RawMessage) (json.RawMessage, header, error) {
	var head header
	if err := json.Unmarshal(event, &head); err != nil {
		return nil, head, fmt.Errorf("pretoken: the event is not a JSON object: %w", err)
	}
	version, err := versionOf(head.Version)
	if err != nil {
		return nil, head, err
	}
	if !slices.Contains(triggerSources, head.TriggerSource) {
		return nil, head, fmt.Errorf("pretoken: trigger source %q is not a Pre Token Generation sign-in", head.TriggerSource)
	}
	// The typed events take version as a string; Cognito writes one, but a number is read too.
	event, err = withVersion(event, version)
	if err != nil {
		return nil, head, err
	}
	var out any
	switch version {
	case "1":
		out, err = answerV1(event)
	case "2":
		out, err = answerV2(event)
	default:
		err = fmt.Errorf("pretoken: event version %s: only versions 1 and 2 are answered", version)
	}
	if err != nil {
		return nil, head, err
	}
	b, err := json.Marshal(out)
	return b, head, err
}

// versionOf reads "version" as a string or a number.
func versionOf(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&n); err == nil {
		if i, err := strconv.Atoi(n.String()); err == nil {
			return strconv.Itoa(i), nil
		}
	}
	return "", fmt.Errorf("pretoken: the event has no version (got %s)", raw)
}

func withVersion(event json.RawMessage, version string) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(event, &fields); err != nil {
		return nil, fmt.Errorf("pretoken: the event is not a JSON object: %w", err)
	}
	fields["version"], _ = json.Marshal(version)
	return json.Marshal(fields)
}

func answerV1(raw json.RawMessage) (*events.CognitoEventUserPoolsPreTokenGen, error) {
	var e events.CognitoEventUserPoolsPreTokenGen
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("pretoken: not a version 1 event: %w", err)
	}
	claims, err := claimsFor(e.Request.UserAttributes, e.Request.GroupConfiguration.GroupsToOverride)
	if err != nil {
		return nil, err
	}
	// Version 1 claims are strings only, hence the claims as a JSON string (the engine's
	// claims_format stringified_json).
	value, err := json.Marshal(claims)
	if err != nil {
		return nil, err
	}
	d := &e.Response.ClaimsOverrideDetails
	if d.ClaimsToAddOrOverride == nil {
		d.ClaimsToAddOrOverride = map[string]string{}
	}
	d.ClaimsToAddOrOverride[hasurajwt.Namespace] = string(value)
	d.ClaimsToSuppress = unsuppressed(d.ClaimsToSuppress)
	return &e, nil
}

func answerV2(raw json.RawMessage) (*events.CognitoEventUserPoolsPreTokenGenV2_0, error) {
	var e events.CognitoEventUserPoolsPreTokenGenV2_0
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("pretoken: not a version 2 event: %w", err)
	}
	claims, err := claimsFor(e.Request.UserAttributes, e.Request.GroupConfiguration.GroupsToOverride)
	if err != nil {
		return nil, err
	}
	d := &e.Response.ClaimsAndScopeOverrideDetails
	// Version 2 takes JSON values, so the claims go in as an object (claims_format json),
	// and into the access token too.
	for _, t := range []*struct {
		add      *map[string]any
		suppress *[]string
	}{
		{&d.IDTokenGeneration.ClaimsToAddOrOverride, &d.IDTokenGeneration.ClaimsToSuppress},
		{&d.AccessTokenGeneration.ClaimsToAddOrOverride, &d.AccessTokenGeneration.ClaimsToSuppress},
	} {
		if *t.add == nil {
			*t.add = map[string]any{}
		}
		(*t.add)[hasurajwt.Namespace] = claims
		*t.suppress = unsuppressed(*t.suppress)
	}
	return &e, nil
}

// claimsFor is the session of the user with attrs in groups.
func claimsFor(attrs map[string]string, groups []string) (hasurajwt.Claims, error) {
	sub := attrs["sub"]
	if sub == "" {
		return hasurajwt.Claims{}, errors.New("pretoken: the event names no user (no sub attribute)")
	}
	// Members, orders and staff rows are keyed by the sub as a uuid; anything else would make
	// a token whose every call fails.
	if _, err := uuid.Parse(sub); err != nil || len(sub) != 36 {
		return hasurajwt.Claims{}, fmt.Errorf("pretoken: sub %q is not a uuid", sub)
	}
	roles := []string{hasurajwt.RoleMember}
	for _, g := range groupRoles {
		if slices.Contains(groups, g.group) {
			roles = append(roles, g.role)
		}
	}
	return hasurajwt.Claims{UserID: sub, DefaultRole: hasurajwt.RoleMember, AllowedRoles: roles}, nil
}

// unsuppressed drops the claims namespace from claims other code asked to suppress: the
// session must be in the token.
func unsuppressed(claims []string) []string {
	return slices.DeleteFunc(claims, func(c string) bool { return c == hasurajwt.Namespace })
}
