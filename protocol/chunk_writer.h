// Placeholder: implemented by the chunk_writer module work.
#pragma once
