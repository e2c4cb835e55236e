package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/memberqr"
)

// A refusal of useCoupon names the code, as loyalty words it ("coupon K7QX2MPA was used at
// ..."). The cashier, who typed it, reads it whole; the log line, which more people read for
// longer, shows its first characters only, whether the cashier typed it in lower case or not.
func TestARefusedCouponCodeIsLoggedAsAPrefixOnly(t *testing.T) {
	const code = "K7QX2MPA"
	for _, typed := range []string{code, "k7qx-2mpa"} {
		t.Run(typed, func(t *testing.T) {
			var logs bytes.Buffer
			env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
			used := func(context.Context, loyalty.Caller, loyalty.UseCouponInput) (loyalty.UseCouponOutput, error) {
				return loyalty.UseCouponOutput{}, &loyalty.Error{Code: loyalty.CodeCouponUsed, Message: "coupon " + code + " was used at 2026-01-02T03:04:05Z"}
			}
			r := action(env, "useCoupon", used)
			req := hasuratest.ActionRequest(t, "useCoupon", inputArg[loyalty.UseCouponInput]{Input: loyalty.UseCouponInput{StoreID: "5e0c0b8a-0000-4000-8000-0000000000a1", CouponCode: typed}},
				hasuratest.Session("staff", "5e0c0b8a-0000-4000-8000-0000000000b1"))
			rec := httptest.NewRecorder()
			r.Handler.ServeHTTP(rec, req)
			var body hasura.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || !strings.Contains(body.Message, code) {
				t.Fatalf("answer %d %s: the cashier should read the whole code", rec.Code, rec.Body)
			}
			if strings.Contains(strings.ToUpper(logs.String()), "K7QX2MPA") || strings.Contains(strings.ToUpper(logs.String()), "K7QX-2MPA") {
				t.Errorf("the log holds the whole code:\n%s", logs.String())
			}
			if !strings.Contains(logs.String(), "coupon K7Q… was used") {
				t.Errorf("the log does not show the prefix:\n%s", logs.String())
			}
		})
	}
}

// A member QR token the verifier refuses: the counter is told only that the code is invalid;
// the refusal's one log line, with the caller and the request, says which check failed.
func TestARefusedQRTokenIsLoggedOnceWithTheCallerAndWhy(t *testing.T) {
	tokens, err := memberqr.New("a-test-key-of-at-least-32-characters")
	if err != nil {
		t.Fatal(err)
	}
	var logs, elsewhere bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewJSONHandler(&elsewhere, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })
	env := &hasura.Envelope{Secret: hasuratest.Secret, Logger: slog.New(slog.NewJSONHandler(&logs, nil))}
	earn := func(_ context.Context, _ loyalty.Caller, in loyalty.EarnPointsInput) (loyalty.EarnPointsOutput, error) {
		_, err := tokens.VerifyMemberQR(*in.MemberQRToken, time.Now(), 2*time.Minute)
		return loyalty.EarnPointsOutput{}, err
	}
	const crew = "5e0c0b8a-0000-4000-8000-0000000000b1"
	forged := "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
	req := hasuratest.ActionRequest(t, "earnPoints", inputArg[loyalty.EarnPointsInput]{Input: loyalty.EarnPointsInput{
		StoreID: "5e0c0b8a-0000-4000-8000-0000000000a1", ReceiptNo: "R-1", Amount: 1000, MemberQRToken: &forged}},
		hasuratest.Session("staff", crew))
	rec := httptest.NewRecorder()
	action(env, "earnPoints", earn).Handler.ServeHTTP(rec, req)

	var body hasura.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Extensions.Code != string(loyalty.CodeQRInvalid) {
		t.Fatalf("answer %d %s; want qr_invalid", rec.Code, rec.Body)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		lines = append(lines, line)
	}
	refusals := 0
	for _, l := range lines {
		if msg, _ := l["error"].(string); strings.HasPrefix(msg, string(loyalty.CodeQRInvalid)) {
			refusals++
			if l["user_id"] != crew || msg == string(loyalty.CodeQRInvalid)+": "+body.Message {
				t.Errorf("the refusal's line %v lacks the caller or why", l)
			}
		}
	}
	if refusals != 1 {
		t.Errorf("%d log lines of the refusal, want 1:\n%s", refusals, logs.String())
	}
	if strings.Contains(body.Message, "jws") || strings.Contains(body.Message, "alg") {
		t.Errorf("the answer passes on the verifier's internals: %q", body.Message)
	}
	if elsewhere.Len() != 0 {
		t.Errorf("logged outside the request's logger, without its caller:\n%s", elsewhere.String())
	}
}
