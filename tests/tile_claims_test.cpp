// The fused kernels' tile claims (kernels/tile_claims.hpp): the ring's words, and the protocol the
// device scheduler runs (arrival_tile_scheduler.cuh, claim()) played out on the host with the same
// rules, one step of one block at a time in random orders: every table entry is computed by exactly
// one cluster, every block of a cluster computes the same entries in the same order, entries are
// claimed in table order, and no block waits forever, whichever block runs ahead.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "tile_claims.hpp"

namespace comet::kernels {
namespace {

TEST(TileClaims, WordsRoundTripAndAZeroedSlotHoldsNoClaim) {
  for (unsigned sequence : {0u, 1u, 15u, 16u, 4096u, 0xfffffffeu})
    for (unsigned entry : {0u, 7u, 123456u, 0xffffffffu}) {
      const unsigned long long word = claim_word(sequence, entry);
      EXPECT_TRUE(claim_holds(word, sequence));
      EXPECT_FALSE(claim_holds(word, sequence + 1));
      EXPECT_FALSE(claim_holds(0ull, sequence));
      EXPECT_EQ(claim_entry(word), entry);
    }
  EXPECT_FALSE(claim_holds(claim_word(3, 9), 3 + CLAIM_RING));  // the claim a slot held before
}

TEST(TileClaims, ASlotIsReusedOnlyOnceItsClaimWasRead) {
  for (unsigned sequence = 0; sequence < 3 * CLAIM_RING; ++sequence) {
    // The slot's previous claim is sequence - CLAIM_RING: read once `taken` exceeds it.
    const unsigned previous_read = sequence >= CLAIM_RING ? sequence - CLAIM_RING + 1 : 0;
    EXPECT_TRUE(claim_slot_free(sequence, previous_read)) << sequence;
    if (previous_read > 0) {
      EXPECT_FALSE(claim_slot_free(sequence, previous_read - 1)) << sequence;
    }
    EXPECT_EQ(claim_slot(sequence), claim_slot(sequence + CLAIM_RING));
  }
}

TEST(TileClaims, TheBoardHoldsAWholeGpuOfClustersAndNoMore) {
  EXPECT_TRUE(claims_fit(132, 2));
  EXPECT_TRUE(claims_fit(MAX_CLAIM_CLUSTERS * 2, 2));
  EXPECT_FALSE(claims_fit(MAX_CLAIM_CLUSTERS * 2 + 2, 2));
  EXPECT_FALSE(claims_fit(131, 2));  // not whole clusters
  EXPECT_FALSE(claims_fit(8, MAX_CLAIM_RANKS + 1));
  EXPECT_FALSE(claims_fit(8, 0));
  EXPECT_GT(claims_reset_bytes(), sizeof(ClusterClaims) * MAX_CLAIM_CLUSTERS);
  EXPECT_LT(claims_reset_bytes(), sizeof(ClaimBoard));
}

// One block of the host model: what it has claimed, and where it is in a claim.
struct Block {
  int cluster = 0, rank = 0;
  unsigned sequence = 0;      // its next claim
  bool holding = false;       // rank 0: has taken `entry` from the counter, not yet published
  unsigned entry = 0;
  bool done = false;          // claimed an entry past the table
  std::vector<unsigned> computed;
};

// The device's claim() one step at a time: true when the block moved.
bool step(Block& b, ClaimBoard& board, int cluster_size, unsigned table) {
  ClusterClaims& ring = board.clusters[b.cluster];
  const int slot = claim_slot(b.sequence);
  unsigned claimed = 0;
  if (b.rank == 0) {
    if (!b.holding) {
      b.entry = board.next_entry++;  // the atomicAdd
      b.holding = true;
      return true;
    }
    for (int r = 1; r < cluster_size; ++r)
      if (!claim_slot_free(b.sequence, ring.taken[r])) return false;  // waits for a slow rank
    ring.ring[slot] = claim_word(b.sequence, b.entry);
    b.holding = false;
    claimed = b.entry;
  } else {
    if (!claim_holds(ring.ring[slot], b.sequence)) return false;  // waits for rank 0
    claimed = claim_entry(ring.ring[slot]);
    ring.taken[b.rank] = b.sequence + 1;
  }
  ++b.sequence;
  if (claimed >= table) b.done = true;
  else b.computed.push_back(claimed);
  return true;
}

TEST(TileClaims, EveryEntryOnceEveryRankAlikeWhicheverBlockRunsAhead) {
  std::mt19937_64 rng(20261207);
  for (int trial = 0; trial < 300; ++trial) {
    const int cluster_size = std::uniform_int_distribution<int>(1, MAX_CLAIM_RANKS)(rng);
    const int clusters = std::uniform_int_distribution<int>(1, 12)(rng);
    const unsigned table = std::uniform_int_distribution<unsigned>(0, 400)(rng);
    // How often each block gets to move: some crawl, so that others run far ahead of them.
    std::vector<Block> blocks;
    std::vector<double> speed;
    for (int c = 0; c < clusters; ++c)
      for (int r = 0; r < cluster_size; ++r) {
        Block block;
        block.cluster = c, block.rank = r;
        blocks.push_back(block);
        speed.push_back(std::uniform_real_distribution<double>(0.02, 1.0)(rng));
      }
    ClaimBoard board{};
    std::discrete_distribution<std::size_t> pick(speed.begin(), speed.end());
    long long idle_steps = 0;
    while (std::any_of(blocks.begin(), blocks.end(), [](const Block& b) { return !b.done; })) {
      Block& b = blocks[pick(rng)];
      if (b.done || !step(b, board, cluster_size, table)) {
        // Stuck for good would mean a wait that never ends: every unfinished block must be able to move.
        ASSERT_LT(++idle_steps, 1'000'000) << "no block can move: trial " << trial;
        continue;
      }
      idle_steps = 0;
    }
    std::vector<int> owner(table, -1);
    for (const Block& b : blocks) {
      EXPECT_TRUE(std::is_sorted(b.computed.begin(), b.computed.end())) << "claims out of table order";
      EXPECT_EQ(b.computed, blocks[static_cast<std::size_t>(b.cluster * cluster_size)].computed) << "ranks of a cluster differ";
      if (b.rank != 0) continue;
      for (unsigned e : b.computed) {
        EXPECT_EQ(owner[e], -1) << "entry " << e << " computed twice";
        owner[e] = b.cluster;
      }
    }
    EXPECT_EQ(std::count(owner.begin(), owner.end(), -1), 0) << "an entry never computed: trial " << trial;
  }
}

}  // namespace
}  // namespace comet::kernels
