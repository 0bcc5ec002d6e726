#!/usr/bin/env bash
# Mutation testing of the core modules with mutmut (docs/mutation.md): each group's modules are mutated one change
# at a time and only that group's tests are run against each mutant; a mutant that no test fails "survived".
#
#   bash scripts/mutation.sh                  # every group (hours on 2 cores)
#   bash scripts/mutation.sh metrics record   # named groups
#   bash scripts/mutation.sh --list           # the groups, their modules and tests
#
# Each group runs in a scratch copy of the tracked files (the work tree is never touched) under
# ${CSAT_MUTATION_DIR:-/tmp/csat-mutation}/<group>; `cd` there and `mutmut browse` / `mutmut show NAME` to read the
# survivors. Needs mutmut (`.venv/bin/pip install mutmut`, the `mutation` extra) and the shared data.
# Last line: RESULT killed=… survived=… other=… score=… (score = killed / (killed + survived); "other": timeouts,
# suspicious and untested mutants, listed per group).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
MUTMUT="$(dirname "$PY")/mutmut"
WORK="${CSAT_MUTATION_DIR:-/tmp/csat-mutation}"
export CSAT_DATA_ROOT="${CSAT_DATA_ROOT:-$(cd "$ROOT/.." && pwd)/shared/data}"
# the tiny models and the small store are built once and shared by every mutant's test session (tests/conftest.py)
export CSAT_TEST_FIXTURES="${CSAT_TEST_FIXTURES:-$WORK/fixtures}"

# group | modules to mutate | the tests that cover them (fast ones: every mutant reruns the tests that reach it,
# and a test that builds a model or a store costs seconds per mutant)
GROUPS_TABLE="
metrics|eval/metrics/|tests/test_metrics_exact.py tests/test_eval.py::test_wilson_hand_computed tests/test_eval.py::test_mcnemar_exact_hand_computed tests/test_eval.py::test_ece_and_brier_hand_computed tests/test_eval.py::test_compute_metrics_groups_and_baselines tests/test_eval.py::test_report_and_charts_from_fixture_predictions tests/test_eval.py::test_accuracy_chart_handles_perfect_and_zero_groups
record|rag/record.py|tests/test_ensemble.py tests/test_ensemble_exact.py tests/test_metrics_exact.py tests/test_eval.py::test_details_have_one_reader_torn_last_line_dropped_bad_middle_line_named tests/test_eval.py::test_report_and_charts_from_fixture_predictions tests/test_error_boundary.py::test_scoring_a_partial_or_mixed_run_is_refused tests/test_error_boundary.py::test_a_run_directory_belongs_to_one_run tests/test_eval.py::test_details_append_keep_korean_skip_blank_lines_and_name_the_file tests/test_eval.py::test_a_record_is_refused_naming_where_and_the_field
manifest|knowledge_base/manifest.py|tests/test_knowledge_base.py::test_manifest_refuses_tampered_or_missing_file tests/test_knowledge_base.py::test_build_stage_order_errors tests/test_knowledge_base.py::test_stale_stages_name_what_to_rebuild tests/test_knowledge_base.py::test_dense_stage_resumes_after_interruption tests/test_reliability_kb.py::test_restamp_command_vouches_for_an_edited_store tests/test_reliability_kb.py::test_manifest_cannot_turn_on_remote_code tests/test_reliability_kb.py::test_remote_code_flag_needs_both_caller_and_manifest tests/test_reliability_kb.py::test_search_on_a_kb_without_an_index_fails tests/test_error_boundary.py::test_a_restamped_store_is_still_checked tests/test_error_boundary.py::test_a_damaged_chunk_file_read_without_verification_names_file_and_line tests/test_kb_streaming.py::test_a_format_1_store_is_refused_then_upgraded tests/test_manifest_files.py
retrievers|retrievers/|tests/test_retrievers.py
scoring|rag/scoring/|tests/test_prompts_scoring.py tests/test_evidence.py::test_evidence_scoring_needs_no_llm_and_the_coverage_report
pipeline|rag/pipeline.py rag/predict.py|tests/test_predict.py
evidence|rag/evidence.py|tests/test_evidence.py::test_per_choice_retrieval_is_one_batch_and_polarity_flips tests/test_evidence.py::test_every_negated_wording_is_read_as_negated tests/test_evidence.py::test_retrieve_asks_with_the_passage_head_and_top_k tests/test_evidence.py::test_idf_is_the_share_of_chunks_holding_the_term tests/test_evidence.py::test_demo_trace_shows_the_evidence_for_each_choice tests/test_evidence.py::test_exam_bank_source_and_the_leakage_guard tests/test_evidence.py::test_support_own_terms_and_probabilities_computed_by_hand tests/test_evidence.py::test_idf_weighted_support_by_hand tests/test_evidence.py::test_choice_queries_take_300_characters_of_passage_and_boki_and_skip_blank_parts tests/test_evidence.py::test_leakage_guard_by_id_or_text_names_five_and_defaults
ensemble|eval/ensemble.py|tests/test_ensemble.py tests/test_ensemble_exact.py
finetune-data|finetune/data.py|tests/test_finetune.py
router|rag/router/|tests/test_router.py tests/test_router_features.py tests/test_router_second_opinion.py
"

if [[ "${1:-}" == "--list" ]]; then
  echo "$GROUPS_TABLE" | sed '/^$/d' | column -t -s '|'
  exit 0
fi
[[ -x "$MUTMUT" ]] || { echo "error: mutmut not found next to $PY; install it: $(dirname "$PY")/pip install mutmut" >&2; exit 2; }
[[ -d "$CSAT_DATA_ROOT" ]] || { echo "error: shared data not found at $CSAT_DATA_ROOT; set CSAT_DATA_ROOT" >&2; exit 2; }

wanted=("$@")
total_killed=0; total_survived=0; total_other=0
while IFS='|' read -r group modules tests; do
  [[ -z "$group" ]] && continue
  if (( ${#wanted[@]} )) && [[ ! " ${wanted[*]} " == *" $group "* ]]; then continue; fi
  dir="$WORK/$group"
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$dir")
  {
    echo
    echo "[tool.mutmut]"
    echo "paths_to_mutate = [$(printf '"%s", ' $modules | sed 's/, $//')]"
    echo "pytest_add_cli_args_test_selection = [$(printf '"%s", ' $tests | sed 's/, $//')]"
    echo 'also_copy = ["common", "knowledge_base", "retrievers", "rag", "eval", "finetune", "router_training", "configs"]'
    echo 'pytest_add_cli_args = ["-q", "-p", "no:cacheprovider", "-W", "ignore"]'
    # each mutant's tests run in a process forked from a server that has imported the tests but run nothing: torch's
    # and Kiwi's worker threads, started by the stats run in mutmut's own process, do not survive a fork
    echo 'process_isolation = "forkserver"'
  } >> "$dir/pyproject.toml"
  echo "== $group: mutating $modules against $tests"
  start=$(date +%s)
  (cd "$dir" && "$MUTMUT" run --max-children "${MUTATION_CHILDREN:-$(nproc)}" > "$dir/mutmut.log" 2>&1) || {
    echo "error: mutmut failed for $group (see $dir/mutmut.log)" >&2; tail -20 "$dir/mutmut.log" >&2; exit 1; }
  (cd "$dir" && "$MUTMUT" results --all true > "$dir/results.txt" 2>&1) || true
  killed=$(grep -c ': killed$' "$dir/results.txt" || true)
  survived=$(grep -c ': survived$' "$dir/results.txt" || true)
  other=$(grep -E '^ +[^ ]+: [a-z ]+$' "$dir/results.txt" | grep -vcE ': (killed|survived)$' || true)
  secs=$(( $(date +%s) - start ))
  score=$("$PY" -c "k,s=$killed,$survived; print(f'{k/(k+s):.3f}' if k+s else 'nan')")
  echo "   $group: killed=$killed survived=$survived other=$other score=$score (${secs}s)"
  grep -E ': survived$' "$dir/results.txt" | sed 's/^/   survived /' || true
  total_killed=$((total_killed + killed)); total_survived=$((total_survived + survived)); total_other=$((total_other + other))
done <<< "$GROUPS_TABLE"

score=$("$PY" -c "k,s=$total_killed,$total_survived; print(f'{k/(k+s):.3f}' if k+s else 'nan')")
echo "RESULT killed=$total_killed survived=$total_survived other=$total_other score=$score"
