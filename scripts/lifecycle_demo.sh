#!/usr/bin/env bash
# One lab through the underwriting workflow over HTTP, with curl against a running service:
# quote -> revision -> offer beyond the band -> referral -> refusal by the wrong authority and
# approval by the right one -> bind (and a retry) -> document (HTML and PDF) -> renewal with its
# rate-change decomposition -> rate monitoring. Prints each request and the key fields of each
# answer (jq).
#
# The service must serve the draft tables 2026.3 (schedule credits and offer bands), e.g.:
#   UW_DATABASE_URL=sqlite:///var/demo.db UW_DRAFT_TABLES=true UW_TABLES_VERSION=2026.3 \
#     .venv/bin/underwriting serve --port 8000
# and this script makes its keys in the same store:
#   UW_DATABASE_URL=sqlite:///var/demo.db scripts/lifecycle_demo.sh http://127.0.0.1:8000
set -euo pipefail

BASE=${1:-http://127.0.0.1:8000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
UW=${UW:-$HERE/.venv/bin/underwriting}
REQUEST=${REQUEST:-$HERE/examples/physics_low_hazard.json}
OUT=${OUT:-$(mktemp -d)}
: "${UW_DATABASE_URL:?set UW_DATABASE_URL to the store of the running service}"

key() {  # key PRINCIPAL ROLE: a new API key of the store
    "$UW" keys create --principal "$1" --role "$2" --database-url "$UW_DATABASE_URL" | tail -n 1
}

step() { printf '\n=== %s\n' "$*"; }

# call METHOD PATH KEY [BODY [CONTENT-TYPE]]: print the request, keep the answer in $OUT/last
call() {
    local method=$1 path=$2 key=$3 body=${4:-} type=${5:-application/json}
    local args=(-sS -X "$method" -H "Authorization: Bearer $key" -o "$OUT/last" -D "$OUT/headers"
        -w '%{http_code}')
    printf '$ curl -X %s %s%s' "$method" "$BASE" "$path"
    if [ -n "$body" ]; then
        printf " -H 'Content-Type: %s' -d '%s'" "$type" "$(printf '%s' "$body" | head -c 160)"
        args+=(-H "Content-Type: $type" --data-binary "$body")
    fi
    printf '\n'
    STATUS=$(curl "${args[@]}" "$BASE$path")
    echo "HTTP $STATUS"
}

show() { jq "$@" "$OUT/last"; }

WANG=$(key wang.fang underwriter)
LI=$(key li.na senior_underwriter)
CHEN=$(key chen.wei chief_underwriter)
ZHAO=$(key zhao.lei underwriter)
QIAN=$(key qian.yu actuary)
echo "keys: wang.fang (underwriter), li.na (senior), chen.wei (chief), zhao.lei (underwriter), qian.yu (actuary)"

step "1. Quote the lab"
BODY=$(jq -c '. + {target_relative_error: 0.05}' "$REQUEST")
call POST /v1/quotes "$WANG" "$BODY"
show '{id, status, lab_id, technical_premium, offered_premium, standard_error: .premium.standard_error,
       valid_until, tables: .provenance.tables_version, seed: .provenance.seed,
       n_years: .provenance.n_years, available_actions}'
FIRST=$(show -r .id)

step "2. Revise it by a JSON merge patch: property deductible 10,000 -> 50,000"
call POST "/v1/quotes/$FIRST/revisions" "$WANG" \
    '{"terms": {"sections": {"property": {"deductible": 50000}}}}' application/merge-patch+json
show '{new_quote: .quote.id, parent_id, changed, technical_difference, expected_loss_difference,
       own_standard_error: .quote.premium.standard_error, currency}'
QUOTE=$(show -r .quote.id)
call GET "/v1/quotes/$FIRST" "$WANG"
show '{parent: .id, status, superseded_by}'

step "3. Offer with every debit of the schedule (+55 %): beyond the senior's band (+50 %)"
call POST "/v1/quotes/$QUOTE/offer" "$WANG" '{"credits": {"survey_poor_housekeeping": 0.15,
    "survey_maintenance_overdue": 0.10, "values_concentrated": 0.15, "management_change": 0.05,
    "information_incomplete": 0.10}, "note": "survey: housekeeping and maintenance findings"}'
show '{status, technical_premium, offered_premium, adequacy_ratio,
       total_adjustment: .offer.total_adjustment, referral: {authority: .referral.authority,
       codes: [.referral.reasons[].code]}}'

step "4. The senior underwriter may not approve a chief-level referral"
call POST "/v1/quotes/$QUOTE/decision" "$LI" '{"decision": "approve", "note": "agreed"}'
show '{status, title, detail}'

step "5. The chief underwriter approves it"
call POST "/v1/quotes/$QUOTE/decision" "$CHEN" \
    '{"decision": "approve", "note": "survey actions agreed with the lab"}'
show '{status, referral_decision: .referral_decision | {decision, decided_by}, available_actions}'

step "6. Bind: a policy at the offered premium (and a retry answers the same policy)"
call POST "/v1/quotes/$QUOTE/bind" "$WANG"
show '{id, policy_number, period_start, period_end, bound_premium, bound_tax}'
POLICY=$(show -r .id)
call POST "/v1/quotes/$QUOTE/bind" "$WANG"
show '{id, policy_number}'
grep -i '^idempotent-replayed' "$OUT/headers" || true
call GET "/v1/quotes/$QUOTE/history" "$WANG"
show '[.[] | {sequence, action, actor, role, from_status, to_status}]'

step "7. The client's document, HTML and PDF"
curl -sS -H "Authorization: Bearer $WANG" -o "$OUT/quote.html" "$BASE/v1/quotes/$QUOTE/document"
echo "\$ curl $BASE/v1/quotes/$QUOTE/document -> $OUT/quote.html ($(wc -c < "$OUT/quote.html") bytes)"
grep -o '<title>[^<]*</title>' "$OUT/quote.html" || true
grep -o 'Cover is bound under policy [^<]*' "$OUT/quote.html" | head -n 1 || true
curl -sS -H "Authorization: Bearer $WANG" -H 'Accept: application/pdf' -o "$OUT/quote.pdf" \
    "$BASE/v1/quotes/$QUOTE/document"
echo "\$ curl -H 'Accept: application/pdf' $BASE/v1/quotes/$QUOTE/document -> $OUT/quote.pdf:" \
    "$(head -c 8 "$OUT/quote.pdf"), $(wc -c < "$OUT/quote.pdf") bytes"

step "8. Renewal: the bound terms, 10 % more equipment and one claim in the year"
RENEWED=$(jq -c '. + {target_relative_error: 0.05}
    | .terms.sections.property.deductible = 50000
    | .submission.values.equipment *= 1.1
    | .submission.claims_history.claims = [{"scenario": "instrument_breakdown",
        "date": (now - 86400 * 30 | strftime("%Y-%m-%d")), "amount": 180000}]' "$REQUEST")
call POST "/v1/policies/$POLICY/renewal" "$WANG" "{\"request\": $RENEWED}"
show '.decomposition | {expiring_premium, renewal_premium, expiring_technical, renewal_technical,
       seed, n_years, tables: "\(.expiring_tables_version) -> \(.tables_version)",
       steps: [.steps[] | {name, changes, technical_change: "\(.technical_change.value | round) ± \(.technical_change.standard_error | round)",
                           price_change: "\(.price_change.value | round) ± \(.price_change.standard_error | round)"}],
       risk_change: "\(.risk_change.value * 1000 | round / 10) % ± \(.risk_change.standard_error * 1000 | round / 10) %",
       rate_change_RARC: "\(.rate_change.value * 1000 | round / 10) % ± \(.rate_change.standard_error * 1000 | round / 10) %",
       adequacy: "\(.expiring_adequacy.value * 1000 | round / 1000) -> \(.renewal_adequacy.value * 1000 | round / 1000)"}'
RENEWAL=$(show -r .quote.id)
show '{renewal_quote: .quote.id, status: .quote.status, renews_policy_id: .quote.renews_policy_id}'

step "9. Bind the renewal"
call POST "/v1/quotes/$RENEWAL/bind" "$WANG"
show '{policy_number, renews_policy_id, bound_premium}'

step "10. Rate monitoring (the actuary's view of the book)"
call GET /v1/reports/rate-monitoring "$QIAN"
show '{policies, book: .book | {renewals, new_business, rate_change, adequacy},
       by_month: [.by_month[] | {key, rate_change, adequacy}],
       by_lab_category: [.by_lab_category[] | {key, rate_change, adequacy}],
       by_underwriter: [.by_underwriter[] | {key, rate_change, adequacy}]}'

step "11. Another underwriter sees none of it: 404 on each"
for path in "/v1/quotes/$QUOTE" "/v1/quotes/$QUOTE/history" "/v1/quotes/$QUOTE/document" \
    "/v1/policies/$POLICY"; do
    call GET "$path" "$ZHAO"
    show -c '{status, detail}'
done
call POST "/v1/policies/$POLICY/renewal" "$ZHAO"
show -c '{status, detail}'
