// How the fused kernels' GEMM clusters claim entries of the tile table at run time (instead of
// cluster c taking entries c, c + clusters, ... fixed at launch): what lets the transfer blocks join
// the GEMM once their rows are moved, and a cluster that waits long for a tile's rows fall behind
// without holding back the entries after it.
//
// A global counter hands out entries in table order. Only rank 0 of a cluster takes from it (every
// block of a cluster must compute the same table entry: they share the weight tile by multicast);
// it publishes each claim in its cluster's ring, and the other ranks read their claims there, in
// sequence. A ring slot is reused CLAIM_RING claims later, only once every other rank has counted
// the claim that was in it as read (`taken`), so a rank that falls behind never loses one.
//
// Plain C++ (host and device): the words' layout and the ring's rules are tested on the host
// (tests/tile_claims_test.cpp), the device code (arrival_tile_scheduler.cuh) uses the same ones.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define COMET_HOST_DEVICE __host__ __device__
#else
#define COMET_HOST_DEVICE
#endif

namespace comet::kernels {

/// Claims a cluster's rank 0 may be ahead of its slowest other rank.
inline constexpr int CLAIM_RING = 16;
/// Most blocks in a cluster, and clusters in a launch, the board has room for (one block per SM:
/// 132 SMs on an H100 or H200 make 66 clusters of two).
inline constexpr int MAX_CLAIM_RANKS = 4, MAX_CLAIM_CLUSTERS = 128;

/// One cluster's ring: rank 0's claims for the others, and how many each other rank has read.
struct ClusterClaims {
  unsigned long long ring[CLAIM_RING];  ///< claim_word(sequence, entry) in slot sequence % CLAIM_RING; 0: none yet
  unsigned taken[MAX_CLAIM_RANKS];      ///< per rank r > 0: claims it has read (rank 0's: unused)
};

/// The device memory behind one launch's claims. Everything before `first_entry` is zeroed before
/// each launch (claims_reset_bytes()); `first_entry` is written before it is read.
struct ClaimBoard {
  unsigned next_entry;  ///< the next table entry not yet claimed (past the table: none left)
  unsigned reserved_[3];
  ClusterClaims clusters[MAX_CLAIM_CLUSTERS];
  /// Per block (blockIdx.x): its cluster's first entry, handed from the claiming thread to the
  /// block's others (every thread of a block asks for its first tile at once).
  int first_entry[MAX_CLAIM_CLUSTERS * MAX_CLAIM_RANKS];
};

/// Bytes of the board to zero before a launch: the counter and the rings.
constexpr std::size_t claims_reset_bytes() { return offsetof(ClaimBoard, first_entry); }

/// A launch of `blocks` blocks in clusters of `cluster_size` fits the board.
constexpr bool claims_fit(int blocks, int cluster_size) {
  return cluster_size > 0 && cluster_size <= MAX_CLAIM_RANKS && blocks >= 0 && blocks <= MAX_CLAIM_CLUSTERS * cluster_size &&
         blocks % cluster_size == 0;
}

/// The ring word of claim `sequence` (the cluster's 0th, 1st, ... claim) of table entry `entry`:
/// sequence + 1 above, the entry below, so that a zeroed slot matches no claim.
COMET_HOST_DEVICE constexpr unsigned long long claim_word(unsigned sequence, unsigned entry) {
  return (static_cast<unsigned long long>(sequence) + 1ull) << 32 | entry;
}
/// Whether `word` holds claim `sequence` (and not an older one, or none).
COMET_HOST_DEVICE constexpr bool claim_holds(unsigned long long word, unsigned sequence) {
  return (word >> 32) == static_cast<unsigned long long>(sequence) + 1ull;
}
/// The table entry of a ring word.
COMET_HOST_DEVICE constexpr unsigned claim_entry(unsigned long long word) { return static_cast<unsigned>(word & 0xffffffffull); }
/// The ring slot of claim `sequence`.
COMET_HOST_DEVICE constexpr int claim_slot(unsigned sequence) { return static_cast<int>(sequence % CLAIM_RING); }
/// Whether rank 0 may write claim `sequence` into its slot when a rank has read `taken` claims:
/// the claim that slot held (sequence - CLAIM_RING) has been read.
COMET_HOST_DEVICE constexpr bool claim_slot_free(unsigned sequence, unsigned taken) { return sequence < taken + CLAIM_RING; }

}  // namespace comet::kernels
