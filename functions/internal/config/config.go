// Package config reads the functions' settings from the environment, once, at start.
package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// Config is every setting of the functions binary.
type Config struct {
	Port         string `envconfig:"PORT" default:"8080"`
	DatabaseURL  string `envconfig:"DATABASE_URL"`
	ActionSecret string `envconfig:"ACTION_SECRET"`
	// The *_PREVIOUS secrets are accepted beside the current ones while a rotation is under
	// way (docs/operations.md); unset once it is done.
	ActionSecretPrevious   string `envconfig:"ACTION_SECRET_PREVIOUS"`
	MemberQRSecretPrevious string `envconfig:"MEMBER_QR_SECRET_PREVIOUS"`
	// Optional: features that need them answer not_configured while they are unset.
	MemberQRSecret    string `envconfig:"MEMBER_QR_SECRET"`
	AWSRegion         string `envconfig:"AWS_REGION"`
	CognitoUserPoolID string `envconfig:"COGNITO_USER_POOL_ID"`
	CognitoEndpoint   string `envconfig:"COGNITO_ENDPOINT"`
	S3Bucket          string `envconfig:"S3_BUCKET"`
	S3Endpoint        string `envconfig:"S3_ENDPOINT"`
	// Tuning, with defaults that suit production.
	MaxBodyBytes    int64         `envconfig:"MAX_BODY_BYTES" default:"262144"`
	ShutdownTimeout time.Duration `envconfig:"SHUTDOWN_TIMEOUT" default:"25s"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info"`
	// Connection limits, so a slow or stalled client cannot hold a connection for ever
	// (docs/operations.md). WRITE_TIMEOUT bounds a whole handler run: keep it above the
	// longest Hasura timeout (300 s for crons).
	ReadHeaderTimeout time.Duration `envconfig:"READ_HEADER_TIMEOUT" default:"5s"`
	ReadTimeout       time.Duration `envconfig:"READ_TIMEOUT" default:"30s"`
	WriteTimeout      time.Duration `envconfig:"WRITE_TIMEOUT" default:"330s"`
	IdleTimeout       time.Duration `envconfig:"IDLE_TIMEOUT" default:"120s"`
}

// MinSecretLength is the shortest ACTION_SECRET accepted: 32 characters, as for
// MEMBER_QR_SECRET, so the secret cannot be guessed.
const MinSecretLength = 32

// Load reads the environment. It fails naming every required setting that is missing.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return c, err
	}
	var missing []string
	if c.DatabaseURL == "" {
		missing = append(missing, "DATABASE_URL")
	}
	if c.ActionSecret == "" {
		missing = append(missing, "ACTION_SECRET")
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing required environment variables: %s", strings.Join(missing, ", "))
	}
	var bad []string
	if len(c.ActionSecret) < MinSecretLength {
		bad = append(bad, fmt.Sprintf("ACTION_SECRET must be at least %d characters", MinSecretLength))
	}
	// The previous secret still lets callers in during a rotation: the same rule holds.
	if c.ActionSecretPrevious != "" && len(c.ActionSecretPrevious) < MinSecretLength {
		bad = append(bad, fmt.Sprintf("ACTION_SECRET_PREVIOUS must be at least %d characters", MinSecretLength))
	}
	// Zero would mean no limit at all in net/http.
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"READ_HEADER_TIMEOUT", c.ReadHeaderTimeout}, {"READ_TIMEOUT", c.ReadTimeout}, {"WRITE_TIMEOUT", c.WriteTimeout}, {"IDLE_TIMEOUT", c.IdleTimeout}} {
		if d.v <= 0 {
			bad = append(bad, d.name+" must be positive")
		}
	}
	if len(bad) > 0 {
		return c, errors.New(strings.Join(bad, "; "))
	}
	return c, nil
}
