/* Wire frame of the actor runtime (internal to actors/).
 *
 * Request body: one kind byte, then the sender's bytes.
 * Reply body:   one status byte (0, or -dp_code), then the handler's bytes
 *               for status 0, or a one-line error text otherwise.
 * The frame lets one rep socket carry calls and acknowledged one-way
 * messages, and carry an error code back without a codec. */
#ifndef DP_ACTOR_FRAME_H
#define DP_ACTOR_FRAME_H

#include <stdint.h>

#define ACTOR_FRAME_CALL 0xA1u
#define ACTOR_FRAME_SEND 0xA2u

/* Status byte for a dp_code (0 or negative). */
static inline uint8_t actor_frame_status(int code)
{
    return (uint8_t)(code < 0 ? -code : 0);
}

/* dp_code for a status byte; 1 (not a dp_code) when the byte is out of range. */
static inline int actor_frame_code(uint8_t status)
{
    if (status > 13) {
        return 1;
    }
    return -(int)status;
}

#endif
