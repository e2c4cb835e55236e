// Package config reads the functions' settings from the environment, once, at start.
package config

import (
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
}

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
	return c, nil
}
