# Checks that words.txt is sorted and has no duplicates.
set -e
sort -u words.txt > sorted.txt
cmp words.txt sorted.txt
echo "words.txt is sorted, $(wc -l < words.txt) words"
