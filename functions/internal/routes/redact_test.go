package routes

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasuratest"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
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
