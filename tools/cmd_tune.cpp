// cmd_tune.cpp — `lowbit tune --op OP [--shapes S] [--backend B] [--device D] [--budget SECONDS] [--db PATH]`:
// tunes the op's kernels on one device (autotune/: verified candidates, successive halving) and writes the
// winners into the tuning database; `lowbit tune --show [--db PATH]` lists the database. Progress bar on
// stderr, the final table on stdout.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "autotune/budget_split.hpp"
#include "autotune/search_space.hpp"
#include "autotune/tune_ops.hpp"
#include "autotune/tuning_db.hpp"
#include "tools/cli.hpp"
#include "tools/progress_bar.hpp"

namespace lowbit::cli {

namespace {

// The database as read, or an Io error when it is not one (a corrupt file is never overwritten).
tune::DbFile readable_db(const std::filesystem::path& path) {
  tune::DbFile f = tune::read_db(path);
  if (f.unreadable)
    throw Error(ErrorCode::Io, "tuning database " + path.string() + " " + f.problem +
                                   "; it is left as it is for inspection: move it away or pass another --db");
  return f;
}

// "0x10de:0x2330" (vendor:device), or "none (old)" for an entry of the previous format.
std::string id_pair(const tune::DbKey& k) {
  if (!k.has_ids) return "none (old)";
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%04x:0x%04x", k.vendor_id, k.device_id);
  return buf;
}

int show(const std::filesystem::path& path) {
  tune::DbFile f = readable_db(path);
  if (!f.problem.empty()) std::fprintf(stderr, "lowbit: warning: tuning database %s: %s (not listed)\n", path.c_str(), f.problem.c_str());
  std::printf("tuning database %s: %zu entries\n", path.c_str(), f.entries.size());
  std::printf("%-8s %-28s %-15s %-18s %-12s %6s %6s %6s %10s %10s %8s  %-10s %s\n", "backend", "device", "ids", "family",
              "format", "M<=", "N", "K", "default_ms", "tuned_ms", "speedup", "date", "config");
  for (const tune::DbEntry& e : f.entries)
    std::printf("%-8s %-28.28s %-15s %-18s %-12.12s %6lld %6lld %6lld %10.3f %10.3f %7.2fx  %-10s %s\n", e.key.backend.c_str(),
                e.key.device.c_str(), id_pair(e.key).c_str(), e.key.family.c_str(), e.key.format.c_str(), (long long)e.key.m_bucket,
                (long long)e.key.n, (long long)e.key.k, e.default_ms, e.config_ms,
                e.config_ms > 0 ? e.default_ms / e.config_ms : 0.0, e.date.c_str(), to_string(e.config).c_str());
  return 0;
}

}  // namespace

Command add_tune_command(CLI::App& root) {
  auto* cmd = root.add_subcommand("tune", "Tune kernel launch configurations for a device (writes the tuning database)");
  struct Args {
    std::string op, shapes, db;
    double budget = 600;
    bool show = false;
    DeviceFlags dev;
  };
  auto a = std::make_shared<Args>();
  std::string ops;
  for (const auto& op : tune::tune_ops()) ops += (ops.empty() ? "" : "|") + op.name;
  cmd->add_option("--op", a->op, ops);
  cmd->add_option("--shapes", a->shapes,
                  "GEMM: M,N,K[;...]; attention: BATCH,CONTEXT[;...]; attention_prefill, kv_append: BATCH,TOKENS[;...]; "
                  "quantize, dequantize: FORMAT,ROWS,COLS[;...] (default: a representative set)");
  add_device_flags(*cmd, a->dev);
  cmd->add_option("--budget", a->budget, "seconds of tuning in all, shared by the shapes")->capture_default_str();
  cmd->add_option("--db", a->db, "tuning database (default $LOWBIT_TUNING_DB or <cache dir>/tuning.json)");
  cmd->add_flag("--show", a->show, "list the database's entries instead of tuning");
  return {cmd, [a] {
            const std::filesystem::path db = tune::db_path(a->db, "");
            if (a->show) return show(db);
            if (a->op.empty()) throw Error(ErrorCode::InvalidArgument, "--op is required (" + std::string("expected one of the tunable ops; see lowbit tune --help)"));
            const tune::TuneOp& op = tune::tune_op(a->op);
            if (!(a->budget > 0) || !std::isfinite(a->budget))
              throw Error(ErrorCode::InvalidArgument, "--budget must be a positive number of seconds, got " + std::to_string(a->budget));
            std::vector<tune::OpShape> shapes = a->shapes.empty() ? op.representative : tune::parse_op_shapes(op, a->shapes);
            readable_db(db);  // a corrupt database fails before any work
            ContextOptions co;
            co.backend = parse_backend(a->dev.backend);
            co.device = a->dev.device;
            co.tuning_db = db.string();
            Context ctx = Context::create(co);
            std::fprintf(stderr, "tune %s on %s (%s): %zu shapes, budget %.0f s, database %s\n", op.name.c_str(),
                         to_string(ctx.backend()), ctx.device_info().name.c_str(), shapes.size(), a->budget, db.c_str());
            ProgressFn bar = make_progress_bar("tune " + op.name, "candidates");
            const auto start = std::chrono::steady_clock::now();
            auto spent = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
            struct Row {
              std::string shape, skipped;
              tune::TuneResult r;
            };
            const std::vector<tune::OpShape> order = tune::cheapest_first(shapes);
            std::vector<Row> rows(order.size());
            tune::BudgetSplit split(a->budget, order.size());
            // Tunes order[i] in `share` seconds, or says why not.
            auto tune_shape = [&](size_t i, double share) {
              rows[i] = {order[i].str(), split.skip_reason(order[i], share), {}};
              if (!rows[i].skipped.empty()) return;
              const double setup_start = spent();
              tune::TuneTask task = op.make_task(ctx, order[i]);
              tune::SearchOptions so;
              so.budget_s = std::max(0.5, share - (spent() - setup_start));  // the buffers' setup is part of the share
              so.progress = bar;
              tune::TuneResult r = tune::tune_task(ctx, task, so);
              split.record(order[i], r.default_ms);
              tune::DbEntry e;
              e.key = tune::device_key(ctx.device_info());
              e.key.kernel_hash = tune::kernel_hash(tune::family(r.key.family), ctx.backend());
              e.key.family = r.key.family, e.key.format = r.key.format;
              e.key.m_bucket = tune::m_bucket(r.key.m), e.key.n = r.key.n, e.key.k = r.key.k;
              e.config = r.best, e.config_ms = r.best_ms, e.default_ms = r.default_ms, e.date = tune::today();
              tune::merge_into_db(db, {e});  // after each shape: an interrupted run keeps what it measured
              rows[i].r = std::move(r);
            };
            for (size_t i = 0; i < order.size(); ++i) tune_shape(i, split.next_share(spent()));
            std::vector<size_t> skipped;  // second pass: what they left, to those of them that fit in it
            std::vector<tune::OpShape> skipped_shapes;
            for (size_t i = 0; i < order.size(); ++i)
              if (!rows[i].skipped.empty()) skipped.push_back(i), skipped_shapes.push_back(order[i]);
            const size_t again = split.second_chance(skipped_shapes, a->budget - spent());
            for (size_t j = 0; j < again; ++j) tune_shape(skipped[j], split.next_share(spent()));
            if (bar) {
              ProgressEvent last;
              last.done = last.total = 1;
              bar(last);
            }
            const double took = spent();
            std::printf("%-16s %-18s %10s %10s %8s %6s  %s\n", "shape", "family", "default_ms", "tuned_ms", "speedup",
                        "tried", "config");
            double log_sum = 0;
            size_t tuned = 0;
            for (const Row& row : rows) {
              if (!row.skipped.empty()) {
                std::printf("%-16s %s\n", row.shape.c_str(), row.skipped.c_str());
                continue;
              }
              const tune::TuneResult& r = row.r;
              const double speedup = r.best_ms > 0 ? r.default_ms / r.best_ms : 1.0;
              log_sum += std::log(speedup);
              ++tuned;
              std::string notes;
              if (r.same_launch) notes += std::to_string(r.same_launch) + " same launch as another";
              if (r.rejected) notes += (notes.empty() ? "" : ", ") + std::to_string(r.rejected) + " rejected";
              std::printf("%-16s %-18s %10.3f %10.3f %7.2fx %6zu  %s%s\n", row.shape.c_str(), r.key.family.c_str(),
                          r.default_ms, r.best_ms, speedup, r.verified + r.rejected, to_string(r.best).c_str(),
                          notes.empty() ? "" : (" (" + notes + ")").c_str());
            }
            std::printf("geomean speed-up %.3fx over %zu shapes (%zu skipped); tuning took %.1f s; database %s\n",
                        std::exp(log_sum / double(std::max<size_t>(1, tuned))), tuned, rows.size() - tuned, took,
                        db.c_str());
            return 0;
          },
          /*prints_report=*/true};
}

}  // namespace lowbit::cli
