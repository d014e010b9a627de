// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title Mode C's records: CKKS contexts issued, encrypted copies issued, decryptions asked and done
/// @notice In mode C a supervisor holds one CKKS secret key per participant. The chain records
///         every context it issues (its fingerprint), every encrypted copy of a model it hands out
///         (participant, block, hash of the copy), every decryption a participant asks of it
///         (purpose, what to decrypt) and every decryption it performs (hash of what it decrypted,
///         where its answer lies). Keys and plaintexts never reach the chain.
interface ISupervision {
    /// @notice `supervisor` issued `participant` the CKKS public context of fingerprint
    ///         `fingerprint` (SHA-256 of its serialisation), stored at `cidDigest`.
    event ContextIssued(
        address indexed participant, address indexed supervisor, bytes32 fingerprint, bytes32 cidDigest
    );

    /// @notice An encrypted copy of block `blockId`'s model, under `participant`'s context
    ///         `fingerprint`, was issued to it: SHA-256 `copyHash`, stored at `cidDigest`.
    event CopyIssued(
        uint64 indexed blockId, address indexed participant, bytes32 copyHash, bytes32 cidDigest, bytes32 fingerprint
    );

    /// @notice `requester` asks the supervisor to decrypt what is stored at `cidDigest`, for
    ///         `purpose` (for example keccak256("tclearn.vote") or keccak256("tclearn.aggregate")),
    ///         about block `blockId`.
    event DecryptionRequested(
        uint64 indexed requestId, address indexed requester, bytes32 indexed purpose, uint64 blockId, bytes32 cidDigest
    );

    /// @notice The supervisor decrypted request `requestId`'s input, of SHA-256 `inputHash`, and
    ///         left its answer (what the protocol lets the requester learn) at `answerCid`.
    event Decrypted(uint64 indexed requestId, address indexed supervisor, bytes32 inputHash, bytes32 answerCid);

    /// @notice `member` registered update `id` masked for secure aggregation in round `round`,
    ///         attempt `attempt` (the masks are bound to that attempt: its sum is the only one
    ///         in which they cancel).
    event UpdateMasked(uint64 indexed id, address indexed member, uint32 indexed round, uint32 attempt);

    /// @notice The general `general` closed the roster of round `round`, attempt `attempt`, on
    ///         block `parent`: no update can be registered in that attempt any more, so a member
    ///         absent from it can safely be unmasked out of the sum (its pairwise masks revealed
    ///         by the members present), since it can never add an update they would expose.
    event RosterClosed(uint32 indexed round, uint32 attempt, uint64 indexed parent, address indexed general);

    /// @notice The caller does not hold the supervisor role.
    error NotSupervisor(address account);
    /// @notice Mode C's records are kept only by a mode-C coalition.
    error NotModeC();
    /// @notice No block of this id exists (yet).
    error NoSuchBlock(uint64 blockId);
    /// @notice No decryption request of this id exists.
    error UnknownRequest(uint64 requestId);
    /// @notice The request was answered already.
    error AlreadyAnswered(uint64 requestId);
    /// @notice The participant has no context issued, so no copy can be issued to it.
    error NoContext(address participant);
    /// @notice Arrays of one call disagree in length.
    error LengthMismatch();
    /// @notice A fingerprint, hash or digest given as zero.
    error EmptyRecord();
    /// @notice In mode C a member's update is masked, and registered with the attempt its masks
    ///         are bound to (`registerMaskedUpdate`).
    error MaskedUpdatesOnly();
    /// @notice The masks were bound to another round or attempt than the current one.
    error WrongAttempt(uint32 round, uint32 attempt, uint32 currentRound, uint32 currentAttempt);
    /// @notice The roster of this round and attempt is closed: no update joins it any more.
    error RosterIsClosed(uint32 round, uint32 attempt);

    /// @notice Issues `participant` its CKKS public context (supervisors only).
    function issueContext(address participant, bytes32 fingerprint, bytes32 cidDigest) external;

    /// @notice Records the encrypted copies of block `blockId`'s model issued to `participants`
    ///         (supervisors only), one transaction for a whole round's copies.
    function issueCopies(
        uint64 blockId,
        address[] calldata participants,
        bytes32[] calldata copyHashes,
        bytes32[] calldata cidDigests
    ) external;

    /// @notice Registers a member's masked update (mode C, members only), trained on the head
    ///         in the current round and attempt, which its masks are bound to; refused once the
    ///         attempt's roster is closed. Otherwise as `registerUpdate`.
    function registerMaskedUpdate(
        uint64 parent,
        uint32 round,
        uint32 attempt,
        bytes32 weightsHash,
        bytes32 cidDigest,
        uint32 samples,
        uint32 batchSize
    ) external returns (uint64 id);

    /// @notice Closes the current attempt's roster (mode C, the round's general only, once):
    ///         before it asks the supervisor for the aggregate of the updates registered in it.
    function closeRoster() external;

    /// @notice The round and attempt whose roster was closed last (zeros: none yet). Only the
    ///         current attempt's roster can be closed, so that is the one that matters.
    function closedRoster() external view returns (uint32 round, uint32 attempt);

    /// @notice Asks the supervisor to decrypt the container stored at `cidDigest` (participants only).
    function requestDecryption(bytes32 purpose, uint64 blockId, bytes32 cidDigest) external returns (uint64 requestId);

    /// @notice Records a decryption done for request `requestId` (supervisors only, once).
    function answerDecryption(uint64 requestId, bytes32 inputHash, bytes32 answerCid) external;

    /// @notice The fingerprint of the CKKS context issued to `participant` (zero if none).
    function contextOf(address participant) external view returns (bytes32);

    /// @notice Who asked request `requestId`, and whether it was answered.
    function decryptionRequest(uint64 requestId) external view returns (address requester, bool answered);

    /// @notice Decryption requests made so far (ids run from 1).
    function requestCount() external view returns (uint64);
}
