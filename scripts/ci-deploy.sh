#!/usr/bin/env bash
# Deploy an image tag to one Shirube environment and wait for the result (docs/api.md).
# For CI, after the pipeline pushed the image: exits 0 when the deployment is healthy,
# 1 when it failed or was refused (the reason on stderr), 2 when it did not finish in time.
#
#   SHIRUBE_URL=https://shirube.example.com SHIRUBE_TOKEN=shirube_svc_… \
#     scripts/ci-deploy.sh payments checkout-api-staging feature-x-3f2a1c9-1732600000
#
# Needs curl and jq. The tag is the Idempotency-Key: a retried job finds its first deployment.
set -euo pipefail

team=${1:?usage: ci-deploy.sh TEAM ENVIRONMENT TAG}
environment=${2:?usage: ci-deploy.sh TEAM ENVIRONMENT TAG}
tag=${3:?usage: ci-deploy.sh TEAM ENVIRONMENT TAG}
: "${SHIRUBE_URL:?set SHIRUBE_URL}" "${SHIRUBE_TOKEN:?set SHIRUBE_TOKEN (a team service token)}"
timeout=${SHIRUBE_WAIT_SECONDS:-900}
poll=${SHIRUBE_POLL_SECONDS:-5}

api() {  # api METHOD PATH [JSON]: prints the body, then the status code on its own line
  local args=(--silent --show-error --max-time 30 -X "$1" -H "Authorization: Bearer ${SHIRUBE_TOKEN}"
              -H "Accept: application/json" -w '\n%{http_code}')
  if [ $# -ge 3 ]; then args+=(-H "Content-Type: application/json" -H "Idempotency-Key: deploy-${tag}" -d "$3"); fi
  curl "${args[@]}" "${SHIRUBE_URL%/}$2"
}

# The pipeline has just pushed this tag, so its word confirms it exists even before Flux's next
# registry scan lists it (a production environment takes only tags Shirube itself has seen).
body=$(jq -n --arg tag "$tag" '{kind: "deploy", tag: $tag, confirm_unverified: true}')
answer=$(api POST "/api/v1/teams/${team}/environments/${environment}/deployments" "$body")
status=${answer##*$'\n'}
answer=${answer%$'\n'*}
if [ "$status" != 202 ]; then
  echo "Shirube refused the deployment ($status): $(jq -r '.detail // .' <<<"$answer")" >&2
  jq -r '.lessons[]? | "  learn: \(.title) \(.url)"' <<<"$answer" >&2 || true
  exit 1
fi
follow=$(jq -r .url <<<"$answer")
echo "Deploying ${tag} to ${team}/${environment}: ${SHIRUBE_URL%/}${follow}"

deadline=$((SECONDS + timeout))
while [ "$SECONDS" -lt "$deadline" ]; do
  answer=$(api GET "$follow")
  status=${answer##*$'\n'}
  answer=${answer%$'\n'*}
  if [ "$status" = 200 ]; then
    state=$(jq -r .status <<<"$answer")
    echo "  ${state}: $(jq -r .message <<<"$answer")"
    case "$state" in
      healthy | done) exit 0 ;;
      failed) echo "The deployment failed at $(jq -r .failed_step <<<"$answer")." >&2; exit 1 ;;
    esac
  elif [ "$status" != 429 ] && [ "${status:0:1}" != 5 ]; then
    echo "Shirube answered $status: $answer" >&2
    exit 1
  fi
  sleep "$poll"
done
echo "No result after ${timeout} s; follow it at ${SHIRUBE_URL%/}${follow}" >&2
exit 2
