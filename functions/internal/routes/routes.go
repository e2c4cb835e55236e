// Package routes is the route table: one line per action, event trigger and cron trigger,
// mapping the Hasura name to a domain operation. The binary serves it and the tests mount
// it on httptest, so what is tested is what is served.
package routes

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/hasura"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
)

// Kind says how Hasura calls a handler.
type Kind string

const (
	Action       Kind = "action"
	EventTrigger Kind = "event_trigger"
	CronTrigger  Kind = "cron_trigger"
)

// Route is one handler at POST /<Name>.
type Route struct {
	Name    string
	Kind    Kind
	Handler http.Handler
	// Input and Output are the Go types an action decodes (its `input` argument; nil for an
	// action without arguments) and encodes; the contract test checks them against actions.graphql.
	Input, Output reflect.Type
	// Pending handlers are declared but not built yet: they answer 501 (env.NotImplemented).
	// None is pending now; the contract test lists any that is.
	Pending bool
}

// Table is every handler of the binary.
func Table(env *hasura.Envelope, svc *loyalty.Service) []Route {
	return []Route{
		action(env, "registerMember", svc.RegisterMember),
		actionWithoutArgs(env, "memberCard", svc.MemberCard),
		action(env, "earnPoints", svc.EarnPoints),
		action(env, "redeemReward", svc.RedeemReward),
		action(env, "useCoupon", svc.UseCoupon),
		action(env, "refundOrder", svc.RefundOrder),
		action(env, "adjustPoints", svc.AdjustPoints),
		actionWithoutArgs(env, "deleteMyAccount", svc.DeleteMyAccount),

		eventTrigger(env, "member_welcome", "members", memberID, insertOps, svc.WelcomeBonus),
		eventTrigger(env, "order_paid", "orders", orderID, orderOps, svc.CreditPaidOrder),
		eventTrigger(env, "order_refunded", "orders", orderID, updateOps, svc.ReverseRefundedOrder),
		eventTrigger(env, "point_transaction_created", "point_transactions", transactionID, insertOps, svc.TransactionPosted),

		cronTrigger(env, "expire_points", svc.ExpirePoints),
		cronTrigger(env, "expire_coupons", svc.ExpireCoupons),
		cronTrigger(env, "birthday_bonus", svc.BirthdayBonus),
		cronTrigger(env, "tier_review", svc.ReviewTiers),
		cronTrigger(env, "expiry_reminders", svc.ExpiryReminders),
		cronTrigger(env, "housekeeping", svc.Housekeeping),
	}
}

// Mux serves routes at POST /<name> and health at /healthz, as the binary does.
func Mux(routes []Route, health http.Handler) *http.ServeMux {
	mux := http.NewServeMux()
	for _, r := range routes {
		mux.Handle("/"+r.Name, r.Handler)
	}
	mux.Handle("/healthz", health)
	return mux
}

// inputArg is the arguments object of an action with one argument named input.
type inputArg[T any] struct {
	Input T `json:"input"`
}

// operation is a domain operation as the route table sees it.
type operation[In, Out any] func(context.Context, loyalty.Caller, In) (Out, error)

func action[In, Out any](env *hasura.Envelope, name string, op operation[In, Out]) Route {
	h := hasura.Action(env, func(ctx context.Context, req *hasura.ActionRequest[inputArg[In]]) (Out, error) {
		if req.Action.Name != name {
			var zero Out
			return zero, misrouted(req.Action.Name, name)
		}
		out, err := op(ctx, caller(req.Session), req.Input.Input)
		return out, toHasura(err, secretsIn(req.Input.Input)...)
	})
	return Route{Name: name, Kind: Action, Handler: h, Input: reflect.TypeFor[In](), Output: reflect.TypeFor[Out]()}
}

// actionWithoutArgs serves an action that takes no arguments (Args is {}).
func actionWithoutArgs[Out any](env *hasura.Envelope, name string, op operation[struct{}, Out]) Route {
	r := action(env, name, op)
	r.Input = nil
	return r
}

func caller(s hasura.Session) loyalty.Caller {
	return loyalty.Caller{Role: loyalty.Role(s.Role()), UserID: s.UserID()}
}

func misrouted(got, want string) error {
	return &hasura.Error{Status: http.StatusBadRequest, Code: string(loyalty.CodeInvalidInput),
		Message: "this handler serves " + want + ", not " + got}
}

// toHasura turns a domain refusal into Hasura's 4xx; other errors pass through (the
// envelope answers transient ones 503 and the rest 500). The log line adds the refusal's
// LogDetail, and cuts secrets in the message to a prefix; the caller, who sent them, still
// reads them whole.
func toHasura(err error, secrets ...string) error {
	var le *loyalty.Error
	if !errors.As(err, &le) {
		return err
	}
	e := &hasura.Error{Status: statusOf(le.Code), Code: string(le.Code), Message: le.Message}
	logged := le.Message
	if le.LogDetail != "" {
		logged += " (" + le.LogDetail + ")"
	}
	for _, s := range secrets {
		if len(s) > secretPrefix {
			logged = strings.ReplaceAll(logged, s, s[:secretPrefix]+"…")
		}
	}
	if logged != le.Message {
		e.LogMessage = logged
	}
	return e
}

// secretPrefix characters of a coupon code are enough to tell codes apart in a log line,
// and leave the rest (29^5 choices for a code of 8) to guess.
const secretPrefix = 3

// secretsIn are the values of an action input that may appear in a refusal and must not be
// logged whole: a live coupon code can be spent by whoever reads it.
func secretsIn(in any) []string {
	if c, ok := in.(loyalty.UseCouponInput); ok {
		return []string{loyalty.NormalizeCouponCode(c.CouponCode), c.CouponCode}
	}
	return nil
}

// statusOf is the HTTP status of a domain code. Hasura passes any 4xx to the app the same
// way; the status only makes logs and traces easier to read.
func statusOf(c loyalty.Code) int {
	switch c {
	case loyalty.CodeForbidden:
		return http.StatusForbidden
	case loyalty.CodeNotFound, loyalty.CodeNotRegistered:
		return http.StatusNotFound
	case loyalty.CodeReceiptConflict, loyalty.CodeCouponUsed:
		return http.StatusConflict
	default:
		return http.StatusBadRequest
	}
}
