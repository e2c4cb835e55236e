package cognitotest

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cip "github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider"
	"github.com/aws/aws-sdk-go-v2/service/cognitoidentityprovider/types"
	"github.com/google/uuid"
)

// NewAppClient creates an app client of pool without a secret, as the mobile apps use, that
// signs in with USER_PASSWORD_AUTH, and returns its id.
func (l *Local) NewAppClient(t testing.TB, pool string) string {
	t.Helper()
	out, err := l.client.CreateUserPoolClient(context.Background(), &cip.CreateUserPoolClientInput{
		UserPoolId: aws.String(pool), ClientName: aws.String("app-" + uuid.NewString()[:8]), GenerateSecret: false,
		ExplicitAuthFlows: []types.ExplicitAuthFlowsType{types.ExplicitAuthFlowsTypeAllowUserPasswordAuth, types.ExplicitAuthFlowsTypeAllowRefreshTokenAuth},
	})
	if err != nil {
		t.Fatalf("create an app client: %v", err)
	}
	return aws.ToString(out.UserPoolClient.ClientId)
}

// NewGroup creates the group name in pool.
func (l *Local) NewGroup(t testing.TB, pool, name string) {
	t.Helper()
	if _, err := l.client.CreateGroup(context.Background(), &cip.CreateGroupInput{UserPoolId: aws.String(pool), GroupName: aws.String(name)}); err != nil {
		t.Fatalf("create group %s: %v", name, err)
	}
}

// AddToGroup puts the user named username in group.
func (l *Local) AddToGroup(t testing.TB, pool, username, group string) {
	t.Helper()
	if _, err := l.client.AdminAddUserToGroup(context.Background(), &cip.AdminAddUserToGroupInput{
		UserPoolId: aws.String(pool), Username: aws.String(username), GroupName: aws.String(group),
	}); err != nil {
		t.Fatalf("add %s to group %s: %v", username, group, err)
	}
}

// SetPassword gives the user named username a permanent password, so that signing in asks
// for no new one.
func (l *Local) SetPassword(t testing.TB, pool, username, password string) {
	t.Helper()
	if _, err := l.client.AdminSetUserPassword(context.Background(), &cip.AdminSetUserPasswordInput{
		UserPoolId: aws.String(pool), Username: aws.String(username), Password: aws.String(password), Permanent: true,
	}); err != nil {
		t.Fatalf("set the password of %s: %v", username, err)
	}
}

// SignIn signs username in through app client clientID with USER_PASSWORD_AUTH, as the app
// does, and returns the tokens; an error is Cognito's refusal.
func (l *Local) SignIn(ctx context.Context, clientID, username, password string) (*types.AuthenticationResultType, error) {
	out, err := l.client.InitiateAuth(ctx, &cip.InitiateAuthInput{
		ClientId: aws.String(clientID), AuthFlow: types.AuthFlowTypeUserPasswordAuth,
		AuthParameters: map[string]string{"USERNAME": username, "PASSWORD": password},
	})
	if err != nil {
		return nil, err
	}
	return out.AuthenticationResult, nil
}
