#!/usr/bin/env bash
# Posts one line about the deploy to the environment's Slack incoming webhook
# (SLACK_WEBHOOK_URL). A Slack outage or a missing webhook never fails a deploy: it warns.
#
#   deploy/slack-notify.sh started|success|failure|cancelled
#
# Uses the variables GitHub Actions sets (GITHUB_*), ENVIRONMENT and TAG from the workflow.
set -uo pipefail

status=${1:?usage: $0 started|success|failure|cancelled}
if [[ -z ${SLACK_WEBHOOK_URL:-} ]]; then
	echo "::warning::SLACK_WEBHOOK_URL is not set for this environment; no Slack notice"
	exit 0
fi
case $status in
started) icon=":rocket:" ;;
success) icon=":white_check_mark:" ;;
cancelled) icon=":heavy_minus_sign:" ;;
*) icon=":x:" ;;
esac
tag=${TAG:-?}
run_url="${GITHUB_SERVER_URL:-}/${GITHUB_REPOSITORY:-}/actions/runs/${GITHUB_RUN_ID:-}"
text="$icon loyalty ${ENVIRONMENT:-?}: deploy $status — ${GITHUB_REF_NAME:-?} @ ${tag:0:12} by ${GITHUB_ACTOR:-?} (<$run_url|run>)"
payload=$(jq -n --arg text "$text" '{text: $text}') || exit 0
if ! curl -fsS --max-time 10 --retry 2 -H 'Content-Type: application/json' -d "$payload" "$SLACK_WEBHOOK_URL" >/dev/null; then
	echo "::warning::the Slack notice failed"
fi
exit 0
