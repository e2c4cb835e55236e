package config

import (
	"strings"
	"testing"
	"time"
)

// secret and previous are long enough for Load (MinSecretLength).
const (
	secret   = "config-test-secret-0123456789abcdef"
	previous = "config-test-previous-0123456789abcdef"
)

func TestLoadNamesEveryMissingRequiredVariable(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("ACTION_SECRET", "")
	_, err := Load()
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "ACTION_SECRET") {
		t.Fatalf("err = %v; want both names", err)
	}
	t.Setenv("DATABASE_URL", "postgres://x")
	_, err = Load()
	if err == nil || strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "ACTION_SECRET") {
		t.Fatalf("err = %v; want only ACTION_SECRET", err)
	}
}

func TestLoadNeedsOnlyTheTwoRequiredVariables(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", secret)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != "8080" || c.ShutdownTimeout != 25*time.Second || c.MaxBodyBytes != 262144 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	// The write limit must outlast the longest Hasura timeout (300 s for crons).
	if c.ReadHeaderTimeout != 5*time.Second || c.ReadTimeout != 30*time.Second || c.WriteTimeout < 300*time.Second || c.IdleTimeout != 120*time.Second {
		t.Fatalf("timeout defaults not applied: %+v", c)
	}
}

func TestLoadRefusesMalformedValues(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", secret)
	t.Setenv("SHUTDOWN_TIMEOUT", "soon")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("err = %v; want one naming SHUTDOWN_TIMEOUT", err)
	}
}

func TestLoadReadsThePreviousSecretsOfARotation(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", secret)
	t.Setenv("ACTION_SECRET_PREVIOUS", previous)
	t.Setenv("MEMBER_QR_SECRET_PREVIOUS", "old-qr")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ActionSecret != secret || c.ActionSecretPrevious != previous || c.MemberQRSecretPrevious != "old-qr" {
		t.Fatalf("got %+v", c)
	}
}

func TestLoadRefusesASecretShorterThan32Characters(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	short := secret[:MinSecretLength-1]
	cases := []struct {
		name, current, previous, want string
	}{
		{"a short ACTION_SECRET", short, "", "ACTION_SECRET must be at least 32"},
		{"a short ACTION_SECRET_PREVIOUS during a rotation", secret, short, "ACTION_SECRET_PREVIOUS must be at least 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("ACTION_SECRET", c.current)
			t.Setenv("ACTION_SECRET_PREVIOUS", c.previous)
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want one saying %q", err, c.want)
			}
		})
	}
	t.Setenv("ACTION_SECRET", secret[:MinSecretLength])
	t.Setenv("ACTION_SECRET_PREVIOUS", "")
	if _, err := Load(); err != nil {
		t.Fatalf("a secret of exactly 32 characters: %v", err)
	}
}

func TestLoadRefusesATimeoutOfZeroWhichWouldMeanNoLimit(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", secret)
	for _, name := range []string{"READ_HEADER_TIMEOUT", "READ_TIMEOUT", "WRITE_TIMEOUT", "IDLE_TIMEOUT"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "0s")
			if _, err := Load(); err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v; want one naming %s", err, name)
			}
		})
	}
}

func TestLoadReadsTheConnectionLimits(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://x")
	t.Setenv("ACTION_SECRET", secret)
	t.Setenv("READ_HEADER_TIMEOUT", "200ms")
	t.Setenv("READ_TIMEOUT", "1s")
	t.Setenv("WRITE_TIMEOUT", "2s")
	t.Setenv("IDLE_TIMEOUT", "3s")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadHeaderTimeout != 200*time.Millisecond || c.ReadTimeout != time.Second || c.WriteTimeout != 2*time.Second || c.IdleTimeout != 3*time.Second {
		t.Fatalf("got %+v", c)
	}
}
