// Package cognito is the adapter to the Cognito user pool members sign in with. It does the
// one admin call the domain needs: deleting a member's user when they delete their account
// (loyalty.AccountDirectory).
package cognito

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/google/uuid"

	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/loyalty"
	"github.com/kaiser-kitchen/loyalty-point-backend/functions/internal/telemetry/awstrace"
)

// Config says which user pool to talk to, and where.
type Config struct {
	Region     string // AWS_REGION; required
	UserPoolID string // COGNITO_USER_POOL_ID; required
	// Endpoint (COGNITO_ENDPOINT) replaces Cognito's endpoint, only to point at a local
	// Cognito such as cognito-local. With it set the client signs with static dummy
	// credentials; without it, credentials come from the default chain (env, IRSA, ...).
	Endpoint string
}

// callTimeout bounds one DeleteUser (lookup and delete, the SDK's own retries included), so
// that a Cognito that hangs answers the caller with a retryable error instead of never.
const callTimeout = 10 * time.Second

// NewClient returns a Cognito Identity Provider client for c.
func NewClient(ctx context.Context, c Config) (*cip.Client, error) {
	if c.Region == "" {
		return nil, errors.New("cognito: AWS_REGION is required with COGNITO_USER_POOL_ID")
	}
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRegion(c.Region)}
	if c.Endpoint != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("local", "local", "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cognito: load the AWS configuration: %w", err)
	}
	// A client span per call, child of the handler's, on the global tracer provider, and the
	// trace context sent along.
	awstrace.Append(&cfg.APIOptions, awstrace.Options{})
	return cip.NewFromConfig(cfg, func(o *cip.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
	}), nil
}

// Directory deletes members' users from one user pool.
//
// It holds the two operations it calls rather than the *cip.Client: a Directory is used as
// an interface (loyalty.AccountDirectory), and the linker keeps every exported method of a
// type reachable from one once anything in the binary calls methods by reflection (protobuf
// and json-iterator together do), which linked all of Cognito's ~120 operations (+2.7 MB of
// code, 6 MB of binary).
type Directory struct {
	listUsers       func(context.Context, *cip.ListUsersInput, ...func(*cip.Options)) (*cip.ListUsersOutput, error)
	adminDeleteUser func(context.Context, *cip.AdminDeleteUserInput, ...func(*cip.Options)) (*cip.AdminDeleteUserOutput, error)
	pool            string
}

var _ loyalty.AccountDirectory = (*Directory)(nil)

// New returns a Directory on the pool c names.
func New(ctx context.Context, c Config) (*Directory, error) {
	if c.UserPoolID == "" {
		return nil, errors.New("cognito: COGNITO_USER_POOL_ID is required")
	}
	client, err := NewClient(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Directory{listUsers: client.ListUsers, adminDeleteUser: client.AdminDeleteUser, pool: c.UserPoolID}, nil
}

// DeleteUser deletes the user whose sub is memberID. The pool's username may differ from the
// sub (an e-mail, or a federated name), so the user is looked up by sub first. A user that is
// not there (never was, or deleted by an earlier call) counts as deleted: DeleteUser is
// idempotent. Faults a retry may cure (network, throttling, Cognito's 5xx) come back as
// *TransientError; others (no such pool, access denied) as plain errors.
func (d *Directory) DeleteUser(ctx context.Context, memberID string) error {
	// The id goes inside the filter's quotes: only a uuid may.
	id, err := uuid.Parse(memberID)
	if err != nil {
		return fmt.Errorf("cognito: member id %q is not a uuid", memberID)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := d.listUsers(ctx, &cip.ListUsersInput{
		UserPoolId:      aws.String(d.pool),
		Filter:          aws.String(`sub = "` + id.String() + `"`),
		AttributesToGet: []string{"sub"},
	})
	if err != nil {
		return classify("look up the user", err)
	}
	// A sub names one user; all of them go should a pool ever answer more.
	for _, u := range out.Users {
		_, err := d.adminDeleteUser(ctx, &cip.AdminDeleteUserInput{UserPoolId: aws.String(d.pool), Username: u.Username})
		var gone *types.UserNotFoundException
		if err != nil && !errors.As(err, &gone) {
			return classify("delete the user", err)
		}
	}
	return nil
}

// TransientError is a Cognito fault that a later retry may cure. It implements the
// Temporary() bool the Hasura envelope answers 503 for.
type TransientError struct{ Err error }

func (e *TransientError) Error() string   { return e.Err.Error() + " (transient)" }
func (e *TransientError) Unwrap() error   { return e.Err }
func (e *TransientError) Temporary() bool { return true }

func classify(what string, err error) error {
	err = fmt.Errorf("cognito: %s: %w", what, err)
	if transient(err) {
		return &TransientError{Err: err}
	}
	return err
}

// transient tells faults of the network or of Cognito (what the SDK itself retries: refused
// or reset connections, timeouts, throttling, 5xx) from refusals that will not change.
func transient(err error) bool {
	var internal *types.InternalErrorException
	var tooMany *types.TooManyRequestsException
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &internal), errors.As(err, &tooMany):
		return true
	case errors.Is(err, context.Canceled):
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}
